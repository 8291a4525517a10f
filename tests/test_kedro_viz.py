"""kedro viz build: a static site of the six pipelines, built without network."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import import_module
from pathlib import Path

import pytest

from e2e.conftest import copy_project, run
from offline_pages import outside_references
from visionops.stages import STAGES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PIPELINES = (
    "ingestion",
    "data_validation",
    "data_processing",
    "training",
    "evaluation",
    "deployment",
)


def _without_network() -> list[str]:
    """A command prefix that runs its command with no network (a fresh network namespace
    holding only a loopback that is down), or nothing where this machine cannot make one."""
    prefix = ["unshare", "--map-root-user", "--net"]
    if shutil.which("unshare") is None:
        return []
    trial = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    return prefix if trial.returncode == 0 else []


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A project copy in which ``kedro viz build`` ran, offline where the machine allows;
    returns the copy and the command's output."""
    project = copy_project(tmp_path_factory.mktemp("viz") / "visionops")
    result = run(project, *_without_network(), "kedro", "viz", "build")
    return project, result.stdout + result.stderr


def _api(project: Path, name: str) -> dict:
    return json.loads((project / "build" / "api" / name).read_text())


def test_the_six_stages_are_the_pipelines_shown() -> None:
    assert set(PIPELINES) == set(STAGES)


def test_build_writes_a_site_naming_the_six_pipelines(built: tuple[Path, str]) -> None:
    project, output = built
    assert "Success" in output
    assert (project / "build" / "index.html").is_file()
    shown = {pipeline["id"] for pipeline in _api(project, "main")["pipelines"]}
    assert shown == {"__default__", *PIPELINES}


@pytest.mark.parametrize("name", PIPELINES)
def test_each_pipeline_page_holds_its_own_nodes(built: tuple[Path, str], name: str) -> None:
    project, _ = built
    page = _api(project, f"pipelines/{name}")
    assert page["selected_pipeline"] == name
    drawn = {node["name"] for node in page["nodes"] if node["type"] == "task"}
    pipeline = import_module(f"visionops.pipelines.{name}").create_pipeline()
    assert drawn == {node.name for node in pipeline.nodes}


def test_build_leaves_the_work_tree_clean(built: tuple[Path, str]) -> None:
    """build/ is ignored, so building the site changes nothing git tracks."""
    project, _ = built
    assert run(project, "git", "status", "--porcelain").stdout == ""


def test_the_site_loads_its_scripts_and_styles_from_itself(built: tuple[Path, str]) -> None:
    """Only the Inter web font comes from outside; offline, the browser uses a local font."""
    project, _ = built
    outside = outside_references(project / "build")
    assert all("fonts.googleapis.com" in reference for reference in outside), outside
