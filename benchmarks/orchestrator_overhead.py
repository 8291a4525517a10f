"""What an orchestrator adds to the six stages: wall time under Airflow 3 and Compose v2
against `dvc repro` of the six stages in one container (the baseline), and against the
six containers run directly, `docker run` one after another.

All four run in this one process, on the same image and the default data (digits),
each in a fresh project folder: `dvc repro --force` in one container (every stage, as
`make run` runs them), the direct runs, `airflow dags test visionops`
(pipelines/airflow_dag.py, SQLite, in-process) and the compose file's `docker compose
up`. Per stage: a direct run's `docker run` wall time; an Airflow task's start to end; a
Compose container's start to finish (what Compose spends between containers is in its
total only). Builds what is missing first (the engine and image, .orchestrators/),
untimed. With ``--rounds N`` the ways run N times, each round in another order, and the
medians are printed: a shared machine's load moves single runs by seconds. The line
before the last compares with the direct runs; the last line:
``airflow_s=.. compose_s=.. local_s=.. airflow_ratio=.. compose_ratio=..``, the ratios
over ``local_s``, the one-container ``dvc repro``.

Usage: .venv/bin/python benchmarks/orchestrator_overhead.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from container.conftest import (  # noqa: E402
    COMPOSE_FILE,
    STAGE_TIMEOUT_S,
    airflow_dags_test,
    airflow_home,
    build_image,
    build_orchestrators,
    compose_containers,
    compose_env,
    compose_stages,
    compose_usage,
    docker,
    orchestrated_project,
    run_container,
    shell,
)
from visionops.containers.layout import stage_command  # noqa: E402


def in_one_container(image: str, root: Path) -> tuple[float, dict[str, float]]:
    """`dvc repro --force` of every stage in one container of the image."""
    project = orchestrated_project(root)
    started = time.perf_counter()
    result = run_container(image, project, ["dvc", "repro", "--force"], timeout=STAGE_TIMEOUT_S)
    if result.returncode != 0:
        raise SystemExit(f"dvc repro exited {result.returncode}:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started, {}


def direct(image: str, root: Path) -> tuple[float, dict[str, float]]:
    """Each stage's container with `docker run`, in the compose file's order."""
    project = orchestrated_project(root)
    times = {}
    started = time.perf_counter()
    for stage in compose_stages():
        begin = time.perf_counter()
        result = run_container(image, project, stage_command(stage), timeout=STAGE_TIMEOUT_S)
        if result.returncode != 0:
            raise SystemExit(f"direct: {stage} exited {result.returncode}:\n{result.stderr}")
        times[stage] = time.perf_counter() - begin
    return time.perf_counter() - started, times


def under_airflow(image: str, orchestrators: Path, root: Path) -> tuple[float, dict[str, float]]:
    """`airflow dags test visionops` (its database made beforehand, untimed)."""
    home = airflow_home(orchestrators, root / "airflow")
    run = airflow_dags_test(orchestrators, home, orchestrated_project(root), image)
    if run.returncode != 0 or set(run.states.values()) != {"success"}:
        raise SystemExit(f"airflow: {run.states}\n{run.output[-3000:]}")
    return run.wall_s, run.times


def under_compose(image: str, orchestrators: Path, root: Path) -> tuple[float, dict[str, float]]:
    """`docker compose -f pipelines/docker-compose.yml up` from the project folder."""
    project = orchestrated_project(root)
    name = f"visionops-overhead-{os.getpid()}"
    env = compose_env(orchestrators, root, name, VISIONOPS_IMAGE=image)
    export, up = (
        next(c for c in compose_usage() if c.startswith("export ")),
        f"docker compose -f {COMPOSE_FILE} up",
    )
    if up not in compose_usage():
        raise SystemExit(f"{COMPOSE_FILE}: its header no longer says `{up}`")
    started = time.perf_counter()
    result = shell([export, up], project, env)
    wall = time.perf_counter() - started
    containers = compose_containers(name)
    shell([f"docker compose -f {COMPOSE_FILE} --profile '*' down"], project, env)
    if result.returncode != 0:
        raise SystemExit(f"compose: up exited {result.returncode}:\n{result.stderr[-3000:]}")
    times = {
        stage: (_instant(state["FinishedAt"]) - _instant(state["StartedAt"]))
        for stage, state in containers.items()
    }
    return wall, times


def _instant(text: str) -> float:
    # Docker writes nanoseconds; datetime takes microseconds.
    head, _, fraction = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{fraction[:6]:0<6}+00:00").timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds of the three ways (each round in another order); medians are printed",
    )
    rounds = parser.parse_args().rounds
    image = build_image()
    orchestrators = build_orchestrators()
    print(f"image {image}; {docker('version', '--format', '{{.Server.Version}}').stdout.strip()}")
    ways = {
        "local": lambda root: in_one_container(image, root),
        "direct": lambda root: direct(image, root),
        "airflow": lambda root: under_airflow(image, orchestrators, root),
        "compose": lambda root: under_compose(image, orchestrators, root),
    }
    walls: dict[str, list[float]] = {name: [] for name in ways}
    stages: dict[str, dict[str, list[float]]] = {name: {} for name in ways}
    for number in range(rounds):
        order = list(ways)[number % len(ways) :] + list(ways)[: number % len(ways)]
        load = " ".join(f"{value:.2f}" for value in os.getloadavg())
        with tempfile.TemporaryDirectory() as folder:
            for name in order:
                wall, times = ways[name](Path(folder) / name)
                walls[name].append(wall)
                for stage, seconds in times.items():
                    stages[name].setdefault(stage, []).append(seconds)
        totals = " ".join(f"{name}_s={walls[name][-1]:.1f}" for name in order)
        print(f"round {number + 1}: {totals} (load average before: {load})")
    staged = [name for name in ways if name != "local"]
    print(f"{'stage':<18}" + "".join(f"{name + '_s':>12}" for name in staged))
    for stage in compose_stages():
        cells = "".join(f"{statistics.median(stages[name][stage]):>12.1f}" for name in staged)
        print(f"{stage:<18}{cells}")
    totals = "".join(f"{statistics.median(walls[name]):>12.1f}" for name in staged)
    print(f"{'total (wall)':<18}{totals}")
    print(f"{'dvc repro, one container':<30}{statistics.median(walls['local']):>12.1f}")
    local_s, direct_s, airflow_s, compose_s = (statistics.median(walls[name]) for name in ways)
    print(
        f"against the direct runs: direct_s={direct_s:.1f} "
        f"airflow_ratio={airflow_s / direct_s:.2f} compose_ratio={compose_s / direct_s:.2f}"
    )
    print(
        f"airflow_s={airflow_s:.1f} compose_s={compose_s:.1f} local_s={local_s:.1f} "
        f"airflow_ratio={airflow_s / local_s:.2f} compose_ratio={compose_s / local_s:.2f}"
    )


if __name__ == "__main__":
    main()
