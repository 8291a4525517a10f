"""``visionops pipelines export``: write pipelines/, or check that it is up to date."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import yaml

from visionops.config import PARAMS_FILE, read_parameters
from visionops.containers import airflow
from visionops.containers.graph import project_pipelines, stage_dependencies
from visionops.containers.layout import DEFAULT_IMAGE
from visionops.containers.operations import stage_operations
from visionops.containers.rayjob import render_rayjob
from visionops.containers.specs import (
    Workflow,
    render_argo,
    render_compose,
    render_cronjob,
    render_volume,
)
from visionops.containers.trainjob import render_trainjob
from visionops.errors import ConfigError
from visionops.scheduling.settings import DEFAULTS, SETTINGS_FILE
from visionops.stages import STAGES

SPEC_DIR = "pipelines"
RENDERERS: dict[str, Callable[[Workflow], str]] = {
    "docker-compose.yml": render_compose,
    "argo-workflow.yaml": render_argo,
    "volume.yaml": render_volume,
    "cronjob.yaml": render_cronjob,
    "rayjob.yaml": render_rayjob,
    "trainjob.yaml": render_trainjob,
    **airflow.RENDERERS,
}
LOCK_FILE = "requirements.lock"


def project_cron(project_dir: Path) -> str:
    """The scheduler's cron from conf/base/scheduling.yml, as Kubernetes accepts it.

    conf/local is left out on purpose: the specs are committed, so they must not
    depend on one machine's overrides.

    Raises:
        ConfigError: The cron has six fields (seconds), which a CronJob cannot take.
    """
    path = Path(project_dir) / "conf" / "base" / SETTINGS_FILE
    settings = (yaml.safe_load(path.read_text()) if path.is_file() else None) or {}
    cron = str(settings.get("cron", DEFAULTS["cron"])).strip()
    if len(cron.split()) != 5:
        raise ConfigError(
            f"cron {cron!r} in {path} has {len(cron.split())} fields; the Kubernetes "
            "CronJob of pipelines/ needs 5 (minute hour day-of-month month day-of-week)"
        )
    return cron


def project_workers(project_dir: Path) -> int:
    """How many workers train at once on a cluster: ``training.ray_workers`` of params.yaml.

    Raises:
        ConfigError: It is not a whole number of 1 or more.
    """
    training = read_parameters(project_dir).get("training") or {}
    workers = training.get("ray_workers", 2)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(
            f"training.ray_workers in {Path(project_dir) / PARAMS_FILE} is {workers!r}; "
            "it must be a whole number, 1 or more"
        )
    return workers


def project_ray_version(project_dir: Path) -> str:
    """The Ray version the image installs, from requirements.lock.

    Raises:
        ConfigError: The lock file pins no ray.
    """
    path = Path(project_dir) / LOCK_FILE
    text = path.read_text() if path.is_file() else ""
    match = re.search(r"^ray(?:\[[^\]]*\])?==([^\s;\\]+)", text, re.MULTILINE)
    if not match:
        raise ConfigError(f"{path} pins no ray==VERSION; the RayJob of pipelines/ needs it")
    return match.group(1)


def render_specs(project_dir: Path, image: str = DEFAULT_IMAGE) -> dict[str, str]:
    """Every file of pipelines/ by name, rendered from the project's pipelines and conf."""
    pipelines = project_pipelines(project_dir)
    workflow = Workflow(
        image=image,
        stages=STAGES,
        dependencies=stage_dependencies(pipelines, STAGES),
        cron=project_cron(project_dir),
        operations=stage_operations(project_dir, STAGES),
        workers=project_workers(project_dir),
        ray_version=project_ray_version(project_dir),
    )
    return {name: render(workflow) for name, render in RENDERERS.items()}


def stale_specs(output: Path, rendered: dict[str, str]) -> list[str]:
    """The names of the files in ``output`` that are missing or differ from ``rendered``."""
    return [
        name
        for name, text in rendered.items()
        if not (output / name).is_file() or (output / name).read_text() != text
    ]


def export_command(project_dir: Path, output: Path | None, image: str | None, check: bool) -> int:
    """Writes the specs into ``output`` (default: the project's pipelines/), or with
    ``check`` only compares them; returns the exit status (1: some file is stale)."""
    output = output if output is not None else Path(project_dir) / SPEC_DIR
    rendered = render_specs(project_dir, image or DEFAULT_IMAGE)
    stale = stale_specs(output, rendered)
    if check:
        if stale:
            print(
                f"out of date in {output}: {', '.join(stale)}; run `make pipelines` "
                "(visionops pipelines export)"
            )
            return 1
        print(f"{output}: {len(rendered)} specs up to date")
        return 0
    output.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (output / name).write_text(rendered[name])
        print(f"wrote {output / name}")
    return 0
