"""A temporary copy of the project, as a fresh clone would have it, with DVC commands."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


def project_env() -> dict[str, str]:
    """The environment make gives the pipeline: the venv first on PATH, telemetry off."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "DVC_NO_ANALYTICS": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "GIT_AUTHOR_NAME": "visionops tests",
        "GIT_AUTHOR_EMAIL": "tests@visionops.invalid",
        "GIT_COMMITTER_NAME": "visionops tests",
        "GIT_COMMITTER_EMAIL": "tests@visionops.invalid",
    }


def run(
    project: Path, *command: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs a command in the project copy and returns its result (stdout, stderr, code);
    ``env`` adds to the project's environment."""
    result = subprocess.run(
        command,
        cwd=project,
        capture_output=True,
        text=True,
        env={**project_env(), **(env or {})},
        timeout=900,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
    return result


def set_parameters(project: Path, values: dict[str, object]) -> None:
    """Edits the project's params.yaml as a user would: ``values`` laid over it."""
    import yaml

    from visionops.config import PARAMS_FILE, merged

    path = project / PARAMS_FILE
    path.write_text(yaml.safe_dump(merged(yaml.safe_load(path.read_text()), values)))


def copy_project(target: Path) -> Path:
    """Copies the files a clone would have (tracked and not ignored) and commits them."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    run(target, "git", "init", "--quiet")
    run(target, "git", "add", "--all")
    run(target, "git", "commit", "--quiet", "-m", "copy of the project")
    return target


def reproduced_copy(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A copy of the project on which `dvc repro` has run once on the default data (what
    `make run` leaves: the digits model in production), to change as a test likes.

    The first `dvc repro` of the test run is the only one: its project is kept as a
    template that every later call copies whole (git history, DVC cache and registry;
    nothing in them holds the project's path). Parallel test workers share it through
    a lock in their common temporary folder.
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # every worker's folder is under one run folder
    template = shared / "reproduced-template" / "visionops"
    done = template.parent / "complete"
    with open(shared / "reproduced-template.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(template.parent, ignore_errors=True)
            template.mkdir(parents=True)
            copy_project(template)
            run(template, "dvc", "repro")
            done.touch()
    target = tmp_path_factory.mktemp(name) / "visionops"
    shutil.copytree(template, target, symlinks=True)
    return target


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy on which `dvc repro` has run once on the default data."""
    return reproduced_copy(tmp_path_factory, "clone")
