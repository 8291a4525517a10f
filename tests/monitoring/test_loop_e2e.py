"""The whole loop on a project copy: serve the digits model, see inverted digits drift, label
them, and let `visionops schedule --once` retrain on the feedback and the digits.

One module-scoped project: `dvc repro` registers version 1; the server logs ordinary and
then inverted digits; the tests run in file order, each adding to what the one before did.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from e2e.conftest import BIN, project_env, reproduced_copy, run, set_parameters
from serving.support import Server, encoded
from visionops.registry.layout import LINEAGE_FILE, list_versions, read_labels, version_dir
from visionops.scheduling.runlog import read_log
from visionops.sources.digits import read_digits

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "e2e-labelling-token-0123456789"
MODEL = "classifier"
PRODUCTION = "data/09_production"
FEEDBACK = "data/01_raw/feedback"
ORDINARY = np.arange(0, 100)
INVERTED = np.arange(100, 700)  # sent inverted, then labelled
HELD_OUT = np.arange(1200, 1797)  # inverted only to score the versions


def _invert(images: np.ndarray) -> np.ndarray:
    return 255 - images


@pytest.fixture(scope="module")
def digits() -> Any:
    return read_digits()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy with version 1 of the digits model in production."""
    project = reproduced_copy(tmp_path_factory, "loop")
    # For the retraining: a shorter one, blessed on the mixed data.
    set_parameters(project, {"training": {"epochs": 20}, "evaluation": {"min_accuracy": 0.8}})
    (project / "conf" / "local" / "monitoring.yml").write_text(
        "prediction_log: {segment_seconds: 0.3}\n"
    )
    assert list_versions(project / "registry", MODEL) == [1]
    return project


@pytest.fixture(scope="module")
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    log = tmp_path_factory.mktemp("loop_server") / "server.log"
    options = ("--project-dir", str(project), "--prediction-log", str(project / PRODUCTION))
    server = Server(project / "registry", log, *options, env={"VISIONOPS_WRITE_TOKEN": TOKEN})
    try:
        server.wait_until_listening()
        yield server
    finally:
        assert server.stop() == 0, server.log[-3000:]


def _send(server: Server, images: np.ndarray) -> list[str]:
    """Sends ``images`` ten to a request; returns the request ids."""
    ids = []
    for start in range(0, len(images), 10):
        body = {
            "instances": [
                {"b64": base64.b64encode(encoded(image)).decode()}
                for image in images[start : start + 10]
            ]
        }
        reply = server.post(f"/v1/models/{MODEL}:predict", body)
        assert reply.status == 200, reply.body
        ids.append(reply.headers["x-request-id"])
    return ids


def _monitor(project: Path) -> dict[str, Any]:
    import time

    time.sleep(1.0)  # the server closes its segments every 0.3 s
    result = subprocess.run(
        [str(BIN / "visionops"), "monitor", "--project-dir", str(project), "--json"],
        cwd=project,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def _alerts(figures: dict[str, Any]) -> set[str]:
    return {alert["check"] for alert in figures["alerts"]}


def _metric(server: Server, name: str, **labels: str) -> float | None:
    for line in server.get("/metrics").body.decode().splitlines():
        named = line.startswith(name + "{")
        if named and all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_ordinary_digits_raise_no_alarm(project: Path, server: Server, digits: Any) -> None:
    _send(server, digits.images[ORDINARY])
    figures = _monitor(project)
    assert figures["images"] == len(ORDINARY) and figures["version"] == 1
    assert figures["alerts"] == [], figures["alerts"]


@pytest.fixture(scope="module")
def inverted_ids(server: Server, digits: Any) -> list[str]:
    return _send(server, _invert(digits.images[INVERTED]))


def test_inverted_digits_are_flagged_as_input_drift(
    project: Path, server: Server, inverted_ids: list[str]
) -> None:
    figures = _monitor(project)
    assert "input_drift.intensity[channel 0]" in _alerts(figures)
    check = "input_drift.intensity[channel 0]"
    assert _metric(server, "visionops_monitor_alert", check=check) == 1


def test_their_labels_bring_live_accuracy_below_threshold(
    project: Path, server: Server, inverted_ids: list[str], digits: Any
) -> None:
    truth = [str(label) for label in digits.labels[INVERTED]]
    items = [
        {"request_id": request_id, "labels": truth[10 * n : 10 * n + 10]}
        for n, request_id in enumerate(inverted_ids)
    ]
    reply = server.request(
        "POST",
        f"/v1/models/{MODEL}:feedback",
        json.dumps({"feedback": items}).encode(),
        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert reply.status == 200, reply.body
    figures = _monitor(project)
    assert figures["accuracy"]["labels"] == len(INVERTED)
    assert figures["accuracy"]["accuracy"] < 0.9
    assert "accuracy" in _alerts(figures)


def _accuracy(project: Path, version: int, images: np.ndarray, labels: np.ndarray) -> float:
    import tensorflow as tf

    from visionops.registry.signature_names import UINT8_SIGNATURE

    loaded = tf.saved_model.load(str(version_dir(project / "registry", MODEL, version)))
    outputs = loaded.signatures[UINT8_SIGNATURE](images=tf.constant(images, tf.uint8))
    return float(np.mean(outputs["class_ids"].numpy() == labels))


def test_schedule_retrains_on_the_feedback_and_the_digits(
    project: Path, server: Server, inverted_ids: list[str], digits: Any
) -> None:
    set_parameters(
        project,
        {
            "ingestion": {"source": ["digits", {"source": "image_folder", "path": FEEDBACK}]},
            # This retrain is meant to learn the new inputs: their drift is no reason to stop.
            "data_validation": {"drift": {"intensity": {"action": "warn"}}},
        },
    )
    settings = project / "conf" / "base" / "scheduling.yml"
    values = yaml.safe_load(settings.read_text())
    values["triggers"] = {"new_data": False, "drift": False, "model_age": False}
    values["feedback_export"] = FEEDBACK
    settings.write_text(yaml.safe_dump(values))
    result = subprocess.run(
        [str(BIN / "visionops"), "schedule", "--project-dir", str(project), "--once"],
        cwd=project,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = read_log(project / "data/08_reporting/schedule.jsonl")
    fired = {r["trigger"] for r in log if r["kind"] == "check" and r["decision"] == "retrain"}
    assert fired == {"live_drift", "live_accuracy"}
    assert list_versions(project / "registry", MODEL) == [1, 2]
    assert read_labels(project / "registry")[MODEL]["production"] == 2
    held_out = _invert(digits.images[HELD_OUT])
    before = _accuracy(project, 1, held_out, digits.labels[HELD_OUT])
    after = _accuracy(project, 2, held_out, digits.labels[HELD_OUT])
    assert after > before + 0.2, (before, after)


def test_the_new_version_lineage_lists_the_feedback_segments(project: Path) -> None:
    lineage = json.loads((version_dir(project / "registry", MODEL, 2) / LINEAGE_FILE).read_text())
    sources = lineage["data_source"]["sources"]
    assert [source["source"] for source in sources] == ["digits", "image_folder"]
    feedback = sources[1]["feedback"]
    manifest = json.loads((project / FEEDBACK / "feedback.json").read_text())
    assert [s["name"] for s in feedback["segments"]] == [s["name"] for s in manifest["segments"]]
    assert feedback["images"] == len(INVERTED)
    assert feedback["senders"] == {"VISIONOPS_WRITE_TOKEN": len(INVERTED)}
    logged = {path.name for path in (project / PRODUCTION / "predictions").rglob("*.parquet")}
    assert {s["name"] for s in feedback["segments"]} <= logged
    shown = run(project, "visionops", "lineage", "show", f"{MODEL}:2").stdout
    assert f"feedback of {MODEL}: {len(INVERTED)} labelled images" in shown
    assert all(f"segment {s['name']}" in shown for s in feedback["segments"])
