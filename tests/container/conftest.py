"""The visionops image, built once per session, and helpers to run its containers, alone
or under the orchestrators of pipelines/ (Airflow 3, Docker Compose v2).

The image fixture runs scripts/build-image.sh, which installs and starts a Docker
engine when there is none (as root, like CI); the orchestrators fixture runs
scripts/orchestrators-env.sh, which installs .orchestrators/ from its lock. When
either cannot be had, the tests that need it fail: they are never skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from e2e.conftest import ROOT
from visionops.config import PARAMS_FILE, merged
from visionops.containers.airflow import DOCKER_DAG_ID

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


def run_script(name: str, *args: str, timeout_s: float, needed_for: str) -> str:
    """Runs scripts/``name``; returns the last line it printed (what it built).

    Raises:
        RuntimeError: The script failed or took over ``timeout_s``; the message says
            what cannot run then (``needed_for``) and ends with the script's errors.
    """
    try:
        built = subprocess.run(
            [str(ROOT / "scripts" / name), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"scripts/{name} took over {timeout_s} s: {error}") from error
    if built.returncode != 0:
        raise RuntimeError(
            f"scripts/{name} exited {built.returncode}; no {needed_for}:\n{built.stderr[-4000:]}"
        )
    return built.stdout.strip().splitlines()[-1]


def build_image() -> str:
    """The image, built from this working tree by scripts/build-image.sh."""
    return run_script(
        "build-image.sh",
        IMAGE,
        timeout_s=BUILD_TIMEOUT_S,
        needed_for="image, so no container test can run",
    )


@pytest.fixture(scope="session")
def image() -> str:
    """The image, built from this working tree by scripts/build-image.sh."""
    try:
        return build_image()
    except RuntimeError as error:
        pytest.fail(str(error))


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


# --- The orchestrators of pipelines/ on the local engine -----------------------------

ORCHESTRATORS_TIMEOUT_S = 15 * 60
RUN_TIMEOUT_S = 15 * 60
# The bad-data runs' source: an image folder with one truncated file in it.
IMAGE_FOLDER = "data/01_raw/pets"
BROKEN_IMAGE = "dog/007.png"
VALIDATION_ERROR = "visionops: error: data validation failed on raw_dataset"
BROKEN_IMAGE_ERROR = f"{BROKEN_IMAGE}: cannot decode image: image file is truncated"


def build_orchestrators() -> Path:
    """.orchestrators/: Airflow 3 with its Docker and Kubernetes providers, and Compose v2,
    installed by scripts/orchestrators-env.sh (once; then it finds them up to date)."""
    return Path(
        run_script(
            "orchestrators-env.sh",
            timeout_s=ORCHESTRATORS_TIMEOUT_S,
            needed_for="Airflow and no Compose, so no orchestrator test can run",
        )
    )


@pytest.fixture(scope="session")
def orchestrators() -> Path:
    """.orchestrators/ (:func:`build_orchestrators`)."""
    try:
        return build_orchestrators()
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def image_folder_image(image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``image`` with a params.yaml that trains the model ``pets`` on the image folder
    data/01_raw/pets: how a project on its own images is deployed (the stages read the
    params.yaml of the image; the orchestrators' commands stay as generated)."""
    return image_with_parameters(
        image,
        f"{image}-image-folder",
        tmp_path_factory.mktemp("image-folder"),
        {"model_name": "pets", "ingestion": {"source": "image_folder", "path": IMAGE_FOLDER}},
    )


def image_with_parameters(image: str, tag: str, context: Path, values: dict) -> str:
    """``tag``: an image built on ``image`` whose params.yaml has ``values`` laid over it."""
    parameters = merged(yaml.safe_load((ROOT / PARAMS_FILE).read_text()), values)
    (context / PARAMS_FILE).write_text(yaml.safe_dump(parameters, sort_keys=False))
    (context / "Dockerfile").write_text(f"FROM {image}\nCOPY {PARAMS_FILE} /project/\n")
    # The legacy builder where BuildKit's CLI plugin is missing, as scripts/build-image.sh.
    legacy = docker("buildx", "version").returncode != 0
    built = subprocess.run(
        ["docker", "build", "--network=none", "--quiet", f"--tag={tag}", str(context)],
        env={**os.environ, **({"DOCKER_BUILDKIT": "0"} if legacy else {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return tag


def orchestrated_project(root: Path) -> Path:
    """A project folder as an orchestrator's host sees it in a clone: pipelines/ as
    generated, data/ with its (empty) layers, and an empty registry/."""
    project = root / "visionops"
    shutil.copytree(
        ROOT / "pipelines", project / "pipelines", ignore=shutil.ignore_patterns("__pycache__")
    )
    for layer in sorted(path.name for path in (ROOT / "data").iterdir() if path.is_dir()):
        (project / "data" / layer).mkdir(parents=True)
    (project / "registry").mkdir()
    return project


def write_image_folder(folder: Path, per_class: int = 40) -> Path:
    """3 classes x ``per_class`` 40x40 PNGs (class k bright in band k), and
    :data:`BROKEN_IMAGE` cut in half; returns the broken file."""
    rng = np.random.default_rng(7)
    for label, name in enumerate(("cat", "dog", "fox")):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            pixels = rng.uniform(0, 80, size=(40, 40, 3))
            pixels[label * 13 : (label + 1) * 13] += 150
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(
                folder / name / f"{index:03d}.png"
            )
    broken = folder / BROKEN_IMAGE
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    return broken


def bad_data_project(root: Path) -> Path:
    """An orchestrated project whose image folder holds one truncated PNG."""
    project = orchestrated_project(root)
    write_image_folder(project / IMAGE_FOLDER)
    return project


# --- Airflow ---------------------------------------------------------------------------


@dataclass
class AirflowRun:
    """One `airflow dags test`: its exit code, its output and wall time, each task's
    state and seconds from start to end."""

    returncode: int
    output: str
    wall_s: float
    states: dict[str, str]
    times: dict[str, float]

    def task_log(self, task_id: str) -> str:
        """What Airflow logged while it ran the task (the container's output included)."""
        lines = self.output.splitlines()
        start = next(i for i, line in enumerate(lines) if f"starting task_id={task_id} " in line)
        end = next(i for i, line in enumerate(lines) if f"end task task_id={task_id} " in line)
        return "\n".join(lines[start : end + 1])


def airflow_env(orchestrators: Path, home: Path) -> dict[str, str]:
    """Airflow on a SQLite database in ``home``, the DAGs of pipelines/, no examples, and
    no retries (VISIONOPS_RETRIES=0), so that a failing stage fails the run at once."""
    return {
        **os.environ,
        "PATH": f"{orchestrators / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "pipelines"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "VISIONOPS_RETRIES": "0",
    }


def airflow(
    orchestrators: Path, home: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """Runs the ``airflow`` CLI of .orchestrators/ with ``home`` as AIRFLOW_HOME."""
    return subprocess.run(
        [str(orchestrators / "bin" / "airflow"), *args],
        env={**airflow_env(orchestrators, home), **env},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def airflow_home(orchestrators: Path, home: Path) -> Path:
    """``home`` with a fresh Airflow database (`airflow db migrate`)."""
    migrated = airflow(orchestrators, home, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    return home


def airflow_dags_test(orchestrators: Path, home: Path, project: Path, image: str) -> AirflowRun:
    """`airflow dags test visionops`: the DAG of pipelines/ runs each stage's container of
    ``image`` on the local engine, with ``project``'s data/ and registry/."""
    started = time.perf_counter()
    result = airflow(
        orchestrators, home, "dags", "test", DOCKER_DAG_ID,
        VISIONOPS_IMAGE=image, VISIONOPS_PROJECT_DIR=str(project), VISIONOPS_USER=host_user(),
    )  # fmt: skip
    wall_s = time.perf_counter() - started
    output = result.stdout + result.stderr
    finished = re.search(r"DagRun Finished: dag_id=\S+, .*?run_id=([^,]+),", output)
    assert finished, f"no DagRun finished (exit {result.returncode}):\n{output[-3000:]}"
    run_id = finished.group(1)
    listed = airflow(
        orchestrators, home, "tasks", "states-for-dag-run", DOCKER_DAG_ID, run_id, "-o", "json"
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    tasks = json.loads(listed.stdout.strip().splitlines()[-1])
    return AirflowRun(
        returncode=result.returncode,
        output=output,
        wall_s=wall_s,
        states={task["task_id"]: task["state"] for task in tasks},
        times={task["task_id"]: _seconds(task["start_date"], task["end_date"]) for task in tasks},
    )


def _seconds(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


# --- Docker Compose v2 ------------------------------------------------------------------

COMPOSE_FILE = "pipelines/docker-compose.yml"


def compose_usage(compose_file: Path = ROOT / COMPOSE_FILE) -> list[str]:
    """The commands that the compose file's header tells users to run, as written
    (indented lines of its leading comment, without their trailing ``# ...`` note)."""
    commands = []
    for line in compose_file.read_text().splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("#   "):
            commands.append(line[4:].split("  #", 1)[0].strip())
    return commands


def compose_env(orchestrators: Path, root: Path, project_name: str, **env: str) -> dict[str, str]:
    """The environment of the header's commands: `docker compose` is Compose v2 of
    .orchestrators/ as a Docker CLI plugin (its own DOCKER_CONFIG), the project name is
    ``project_name`` (so that runs do not share containers), ``env`` on top."""
    plugins = root / "docker-config" / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    link = plugins / "docker-compose"
    if not link.exists():
        link.symlink_to((orchestrators / "bin" / "docker-compose").resolve())
    return {
        **os.environ,
        "DOCKER_CONFIG": str(root / "docker-config"),
        "COMPOSE_PROJECT_NAME": project_name,
        **env,
    }


def shell(
    commands: Sequence[str], project: Path, env: dict[str, str]
) -> subprocess.CompletedProcess:
    """Runs ``commands`` in one bash, from the project folder, stopping at the first
    that fails."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(commands)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def compose_containers(project_name: str) -> dict[str, dict]:
    """Each service's container of the Compose project: its ``docker inspect`` State."""
    listed = docker(
        "ps", "--all", "--quiet", f"--filter=label=com.docker.compose.project={project_name}"
    )
    ids = listed.stdout.split()
    if not ids:
        return {}
    inspected = json.loads(docker("inspect", *ids).stdout)
    return {
        container["Config"]["Labels"]["com.docker.compose.service"]: container["State"]
        for container in inspected
    }


@pytest.fixture
def compose_project() -> Iterator[str]:
    """A unique Compose project name; its containers and network are removed after."""
    name = f"visionops-test-{os.getpid()}-{time.monotonic_ns()}"
    yield name
    listed = docker("ps", "--all", "--quiet", f"--filter=label=com.docker.compose.project={name}")
    if listed.stdout.split():
        docker("rm", "--force", *listed.stdout.split())
    docker("network", "rm", f"{name}_default")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
