"""The visionops image, built once per session, and helpers to run its containers.

The image fixture runs scripts/build-image.sh, which installs and starts a Docker
engine when there is none (as root, like CI). When no engine can be had, the tests
that need one fail: they are never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from e2e.conftest import ROOT

IMAGE = os.environ.get("VISIONOPS_TEST_IMAGE", "visionops:test")
BUILD_TIMEOUT_S = 45 * 60
STAGE_TIMEOUT_S = 15 * 60
# What a project copy needs to run `kedro run` on the host: the code and config,
# none of the data.
PROJECT_FILES = ("pyproject.toml", "README.md", "params.yaml", "dvc.lock", "conf", "src")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "container: builds the Docker image and runs the stages in containers"
    )


@pytest.fixture(scope="session")
def image() -> str:
    """The image, built from this working tree by scripts/build-image.sh."""
    try:
        built = subprocess.run(
            [str(ROOT / "scripts" / "build-image.sh"), IMAGE],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"scripts/build-image.sh took over {BUILD_TIMEOUT_S} s: {error}")
    if built.returncode != 0:
        pytest.fail(
            f"scripts/build-image.sh exited {built.returncode}; no image, so no container "
            f"test can run:\n{built.stderr[-4000:]}"
        )
    return built.stdout.strip().splitlines()[-1]


def new_project(root: Path) -> Path:
    """An empty data/ and registry/ beside a copy of the project's code and config."""
    project = root / "visionops"
    project.mkdir(parents=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, project / name)
    for entry in (project / "conf" / "local").iterdir():
        if entry.name != ".gitkeep":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    (project / "data").mkdir()
    (project / "registry").mkdir()
    return project


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs the docker CLI; returns its result whatever the exit code."""
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def mounts(project: Path, *extra: str) -> list[str]:
    """``-v`` options binding the project's data/ and registry/ where the image expects."""
    options = [
        f"--volume={project / 'data'}:/project/data",
        f"--volume={project / 'registry'}:/project/registry",
    ]
    return options + [f"--volume={volume}" for volume in extra]


def host_user() -> str:
    """``uid:gid`` of this process, so the host owns what the containers write."""
    return f"{os.getuid()}:{os.getgid()}"


def run_container(
    image: str, project: Path, command: Sequence[str], *options: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Runs ``command`` in a one-shot container as the host user, on the project's mounts."""
    return docker(
        "run", "--rm", "--no-healthcheck", f"--user={host_user()}",
        *mounts(project), *options, image, *command,
        timeout=timeout,
    )  # fmt: skip


def compose_stages(compose_file: Path = ROOT / "pipelines" / "docker-compose.yml") -> list[str]:
    """The stage services of the generated compose file, each after those it depends on."""
    services = yaml.safe_load(compose_file.read_text())["services"]
    stages = {
        name: list(service.get("depends_on", {}))
        for name, service in services.items()
        if "profiles" not in service
    }
    ordered: list[str] = []
    while len(ordered) < len(stages):
        ready = [s for s, ups in stages.items() if s not in ordered and set(ups) <= set(ordered)]
        if not ready:
            raise AssertionError(f"{compose_file}: depends_on has a cycle among {stages}")
        ordered.append(ready[0])
    return ordered


@dataclass
class StageRun:
    """One stage's container: its exit code and output."""

    stage: str
    returncode: int
    stdout: str
    stderr: str


def run_stages(
    image: str, project: Path, params: dict[str, str] | None = None, *options: str
) -> list[StageRun]:
    """Runs each stage in its own container in the compose file's order, stopping at the
    first that fails, as an orchestrator does. ``params`` go to the stage they name."""
    runs = []
    for stage in compose_stages():
        command = ["kedro", "run", "--pipelines", stage]
        if params and stage in params:
            command += ["--params", params[stage]]
        result = run_container(image, project, command, *options, timeout=STAGE_TIMEOUT_S)
        runs.append(StageRun(stage, result.returncode, result.stdout, result.stderr))
        if result.returncode != 0:
            break
    return runs


def read_json(path: Path) -> dict:
    """A JSON file's content."""
    return json.loads(path.read_text())


@pytest.fixture
def container_name() -> Iterator[str]:
    """A unique container name, removed (with its container) after the test."""
    name = f"visionops-test-{os.getpid()}-{time.monotonic_ns()}"
    yield name
    docker("rm", "--force", name)


def wait_healthy(name: str, timeout_s: float = 180) -> str:
    """Waits until the container's HEALTHCHECK passes, it stops, or time runs out;
    returns its health status then."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = json.loads(docker("inspect", "--format", "{{json .State}}", name).stdout)
        status = (state.get("Health") or {}).get("Status", "none")
        if status == "healthy" or not state.get("Running") or time.monotonic() > deadline:
            return status
        time.sleep(1)


def post_json(url: str, body: dict, timeout_s: float = 60) -> dict:
    """POSTs ``body`` as JSON; returns the decoded reply (raises on HTTP errors)."""
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{url}: {error.code} {error.read()[:500]!r}") from error
