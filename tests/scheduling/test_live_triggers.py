"""The live triggers: drift of the served inputs, and accuracy on feedback labels."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from monitoring.conftest import make_project, prediction, record_all
from visionops.monitoring.feedback import FeedbackStore
from visionops.monitoring.recorder import Logged
from visionops.monitoring.settings import load_monitoring_settings
from visionops.scheduling import triggers
from visionops.scheduling.checks import evaluate
from visionops.scheduling.settings import load_settings
from visionops.sources.digits import read_digits

from .conftest import write_scheduling_settings


@pytest.fixture
def live_project(tmp_path: Path) -> Path:
    data = read_digits()
    project = make_project(tmp_path / "project", data.images, data.labels)
    write_scheduling_settings(
        project, triggers={"new_data": False, "drift": False, "model_age": False}
    )
    return project


def _log(project: Path, images: np.ndarray, predicted: list[str]) -> list[str]:
    folder = load_monitoring_settings(project).log.folder
    requests = [
        prediction(images[start : start + 4], predicted[start : start + 4])
        for start in range(0, len(images), 4)
    ]
    record_all(folder, requests)
    return [request.request_id for request in requests]


def _live(project: Path) -> dict[str, triggers.Check]:
    evaluation = evaluate(load_settings(project), None, datetime.now(UTC))
    return {check.trigger: check for check in evaluation.checks}


def test_with_no_traffic_the_live_triggers_do_not_fire(live_project: Path) -> None:
    checks = _live(live_project)
    assert checks["live_drift"].decision == triggers.SKIP
    assert "too few images to judge" in checks["live_drift"].reason
    assert checks["live_accuracy"].decision == triggers.SKIP


def test_inverted_inputs_fire_live_drift(live_project: Path) -> None:
    data = read_digits()
    _log(live_project, 255 - data.images[:80], [str(label) for label in data.labels[:80]])
    check = _live(live_project)["live_drift"]
    assert check.decision == triggers.RETRAIN
    assert "drifted: intensity[channel 0]" in check.reason


def test_wrong_answers_with_enough_labels_fire_live_accuracy(live_project: Path) -> None:
    data = read_digits()
    ids = _log(live_project, data.images[:80], ["1"] * 80)
    folder = load_monitoring_settings(live_project).log.folder
    store = FeedbackStore(folder, "digits")
    truth = [str(label) for label in data.labels[:80]]
    items = [{"request_id": rid, "labels": truth[4 * n : 4 * n + 4]} for n, rid in enumerate(ids)]
    logged = {rid: Logged("digits", 1, ("1",) * 4, 0.0) for rid in ids}
    store.submit(items[:4], "alice", "api", logged.get, lambda _: tuple(map(str, range(10))))
    check = _live(live_project)["live_accuracy"]
    assert check.decision == triggers.SKIP and "judged from 20 on" in check.reason
    store.submit(items[4:], "alice", "api", logged.get, lambda _: tuple(map(str, range(10))))
    check = _live(live_project)["live_accuracy"]
    assert check.decision == triggers.RETRAIN and "below 0.9" in check.reason


def test_turned_off_live_triggers_say_so(live_project: Path) -> None:
    write_scheduling_settings(
        live_project,
        triggers={"new_data": False, "drift": False, "model_age": False, "live_drift": False},
    )
    checks = _live(live_project)
    assert "live_drift trigger is off" in checks["live_drift"].reason
    assert checks["live_accuracy"].decision == triggers.SKIP
