"""pipelines/docker-compose.yml under Docker Compose v2 (.orchestrators/), run with the
commands of its own header, word for word, from a project folder.

`up` runs every stage in order and the model is registered; `up -d serve` serves it;
`down` removes every container. Bad data fails the validation service, whose log names
the bad file, `up` exits 1 and no later service starts. The header's `run --rm
schedule` is not run here: right after `up`, its new-data trigger fires (the stages
record no data hash outside `dvc repro`) and it retrains for about 90 s; the scheduler
in a container is tested in test_stages.py.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from visionops.registry.layout import list_versions, read_labels
from visionops.stages import STAGES

from .conftest import (
    BROKEN_IMAGE_ERROR,
    COMPOSE_FILE,
    VALIDATION_ERROR,
    bad_data_project,
    compose_containers,
    compose_env,
    compose_usage,
    free_port,
    orchestrated_project,
    shell,
    wait_healthy,
)

pytestmark = [pytest.mark.container, pytest.mark.slow]


@pytest.fixture(scope="module")
def usage() -> dict[str, str]:
    """The header's commands by what they do."""
    commands = compose_usage()
    named = {
        "export": [c for c in commands if c.startswith("export ")],
        "up": [c for c in commands if c == f"docker compose -f {COMPOSE_FILE} up"],
        "serve": [c for c in commands if c.endswith(" up -d serve")],
        "schedule": [c for c in commands if c.endswith(" run --rm schedule")],
        "down": [c for c in commands if c.endswith(" down")],
    }
    assert all(len(found) == 1 for found in named.values()), commands
    assert len(commands) == len(named), commands
    return {name: found[0] for name, found in named.items()}


def test_header_commands_run_every_stage_serve_the_model_and_clean_up(
    image: str,
    orchestrators: Path,
    usage: dict[str, str],
    compose_project: str,
    tmp_path: Path,
):
    project = orchestrated_project(tmp_path)
    env = compose_env(orchestrators, tmp_path, compose_project, VISIONOPS_IMAGE=image)

    up = shell([usage["export"], usage["up"]], project, env)

    assert up.returncode == 0, up.stderr[-3000:]
    containers = compose_containers(compose_project)
    assert {stage: containers[stage]["ExitCode"] for stage in STAGES} == dict.fromkeys(STAGES, 0)
    assert set(containers) == set(STAGES), "serve and schedule start only when asked"
    assert list_versions(project / "registry", "classifier") == [1]
    assert read_labels(project / "registry") == {"classifier": {"production": 1}}

    port = free_port()
    served = shell(
        [usage["export"], usage["serve"]],
        project,
        {
            **env,
            "VISIONOPS_PORT": f"127.0.0.1:{port}",
            "VISIONOPS_GRPC_PORT": f"127.0.0.1:{free_port()}",
        },
    )
    assert served.returncode == 0, served.stderr[-3000:]
    assert wait_healthy(f"{compose_project}-serve-1") == "healthy"
    model = f"http://127.0.0.1:{port}/v1/models/classifier"
    with urllib.request.urlopen(model, timeout=30) as reply:
        status = json.loads(reply.read())["model_version_status"]
    assert [(entry["version"], entry["state"]) for entry in status] == [("1", "AVAILABLE")]

    down = shell([usage["export"], usage["down"]], project, env)
    assert down.returncode == 0, down.stderr[-3000:]
    assert compose_containers(compose_project) == {}


def test_bad_data_fails_validation_naming_the_file_and_no_later_service_starts(
    image_folder_image: str,
    orchestrators: Path,
    usage: dict[str, str],
    compose_project: str,
    tmp_path: Path,
):
    project = bad_data_project(tmp_path)
    env = compose_env(orchestrators, tmp_path, compose_project, VISIONOPS_IMAGE=image_folder_image)

    up = shell([usage["export"], usage["up"]], project, env)

    assert up.returncode == 1, up.stdout[-3000:]
    assert 'service "data_validation" didn\'t complete successfully: exit 1' in up.stderr
    validation_log = [
        line.split("|", 1)[1] for line in up.stdout.splitlines() if line.startswith("data_valid")
    ]
    assert any(VALIDATION_ERROR in line for line in validation_log), up.stdout[-3000:]
    assert any(BROKEN_IMAGE_ERROR in line for line in validation_log), up.stdout[-3000:]
    containers = compose_containers(compose_project)
    assert containers["ingestion"]["ExitCode"] == 0
    assert (containers["data_validation"]["Status"], containers["data_validation"]["ExitCode"]) == (
        "exited",
        1,
    )
    for stage in STAGES[2:]:
        assert containers[stage]["Status"] == "created", f"{stage} started"
        assert containers[stage]["StartedAt"].startswith("0001-01-01"), f"{stage} started"
    assert not (project / "data/03_primary/validated.json").exists()
    assert not any((project / "registry").iterdir())
