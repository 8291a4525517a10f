"""Every stage in its own container of the image, on the default data (digits).

The same code run on the host and in containers gives the same model bit for bit; the
served model answers over HTTP; bad data stops the run at validation with the clear
message, and nothing after it runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from e2e.conftest import reproduced_copy
from visionops.dataplane.reader import ShardedDataset
from visionops.registry.signature_names import UINT8_SIGNATURE

from .conftest import (
    compose_stages,
    docker,
    host_user,
    new_project,
    post_json,
    read_json,
    run_container,
    run_stages,
    wait_healthy,
)

pytestmark = [pytest.mark.container, pytest.mark.slow]

METRICS = Path("data/08_reporting/metrics.json")
TRAINING = Path("data/07_model_output/training_metadata.json")
VALIDATED = Path("data/03_primary/validated.json")


@pytest.fixture(scope="module")
def host_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy on which the pipeline ran on the host: the test run's one `dvc repro`
    of the default data, which the end-to-end tests share."""
    return reproduced_copy(tmp_path_factory, "host")


@pytest.fixture(scope="module")
def container_project(image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy whose data/ and registry/ the stage containers wrote, in DAG order."""
    project = new_project(tmp_path_factory.mktemp("containers"))
    runs = run_stages(image, project)
    last = runs[-1]
    assert last.returncode == 0, f"{last.stage} exited {last.returncode}:\n{last.stderr[-3000:]}"
    assert [run.stage for run in runs] == compose_stages()
    return project


def test_stages_in_containers_train_the_host_model(host_project: Path, container_project: Path):
    host, contained = read_json(host_project / METRICS), read_json(container_project / METRICS)
    assert contained["accuracy"] == host["accuracy"]
    assert contained["accuracy"] > 0.95
    assert (
        read_json(container_project / TRAINING)["weights_sha256"]
        == read_json(host_project / TRAINING)["weights_sha256"]
    )
    deployment = read_json(container_project / "data/08_reporting/deployment.json")
    assert (container_project / "registry" / "models.config").is_file(), deployment


def test_stage_outputs_belong_to_the_host_user(container_project: Path):
    written = [container_project / METRICS, *(container_project / "registry").rglob("*")]
    owners = {(path.stat().st_uid, path.stat().st_gid) for path in written}
    uid, gid = (int(part) for part in host_user().split(":"))
    assert owners == {(uid, gid)}


def test_served_model_predicts_over_http(image: str, container_project: Path, container_name: str):
    started = docker(
        "run", "--detach", f"--name={container_name}", f"--user={host_user()}",
        "--publish=127.0.0.1::8501",
        f"--volume={container_project / 'registry'}:/project/registry:ro",
        image, "visionops", "serve", "--host", "0.0.0.0",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    status = wait_healthy(container_name)
    assert status == "healthy", docker("logs", container_name).stderr[-3000:]
    port = docker("port", container_name, "8501").stdout.split(":")[-1].strip()

    split = ShardedDataset(container_project / "data/05_model_input/test")
    images, labels = split.read_images(range(32)), split.labels[:32]
    reply = post_json(
        f"http://127.0.0.1:{port}/v1/models/classifier:predict",
        {"signature_name": UINT8_SIGNATURE, "instances": images.tolist()},
    )
    predicted = np.array([row["class_ids"] for row in reply["predictions"]])
    assert predicted.shape == labels.shape
    assert (predicted == labels).mean() > 0.9

    stopped = docker("stop", "--time=20", container_name, timeout=60)
    assert stopped.returncode == 0
    code = docker("inspect", "--format", "{{.State.ExitCode}}", container_name).stdout.strip()
    assert code == "0"


def test_bad_data_stops_the_run_at_validation(image: str, tmp_path: Path):
    project = new_project(tmp_path)
    batch = tmp_path / "batch"
    batch.mkdir()
    digits = load_digits()
    labels = digits.target.copy()
    labels[:3] = 12  # no class 12: there are ten
    np.savez(
        batch / "bad.npz",
        images=(digits.images * 255 / 16).astype(np.uint8),
        labels=labels,
        class_names=np.array([str(digit) for digit in range(10)]),
    )

    runs = run_stages(
        image,
        project,
        {"ingestion": "ingestion.source=npz,ingestion.path=/batch/bad.npz"},
        f"--volume={batch}:/batch:ro",
    )

    assert [(run.stage, run.returncode) for run in runs] == [
        ("ingestion", 0),
        ("data_validation", 1),
    ]
    stderr = runs[-1].stderr
    assert "visionops: error: data validation failed on raw_dataset" in stderr
    assert "label" in stderr and "bad.npz" in stderr
    assert "Traceback" not in stderr
    assert not (project / VALIDATED).exists()
    assert (project / "data/08_reporting/validation.json").is_file()
    assert not any((project / "registry").iterdir())


def test_schedule_checks_once_and_exits(image: str, container_project: Path, tmp_path: Path):
    local = tmp_path / "local"
    local.mkdir()
    (local / "scheduling.yml").write_text(
        "triggers: {new_data: false, drift: false, model_age: false}\n"
    )
    result = run_container(
        image, container_project, ["visionops", "schedule", "--once"],
        f"--volume={local}:/project/conf/local:ro",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    log = (container_project / "data/08_reporting/schedule.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in log]
    checked = {event["trigger"] for event in events if event["kind"] == "check"}
    assert {"new_data", "drift", "model_age"} <= checked
    assert (events[-1]["kind"], events[-1]["decision"]) == ("decision", "skip")
    assert not [event for event in events if event["kind"] == "run"]


def test_image_runs_as_visionops_with_a_home_for_any_uid(image: str):
    default = docker("run", "--rm", "--no-healthcheck", image, "id", "-un")
    assert default.stdout.strip() == "visionops"
    other = docker(
        "run", "--rm", "--no-healthcheck", "--user=4242:4242", image,
        "sh", "-c", 'touch "$HOME/probe" && pwd',
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "/project"
