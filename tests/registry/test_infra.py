"""Infra validation: an export that answers differently from its model is not registered."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from visionops.dataplane.ingest import write_arrays
from visionops.dataplane.reader import ShardedDataset
from visionops.image_dataset import ImageDataset
from visionops.modeling.architectures import build_model
from visionops.registry import export, infra, store
from visionops.registry.events import read_events
from visionops.registry.infra import (
    FreshProcess,
    InfraCheck,
    InfraValidationError,
    infra_check,
    start_fresh_process_ahead,
    stop_fresh_process_ahead,
    take_fresh_process,
)
from visionops.registry.layout import LINEAGE_FILE, list_versions, read_labels
from visionops.registry.store import Registration, register


def _registration(version: int, infra: InfraCheck) -> Registration:
    model = build_model("simple_cnn", (8, 8, 1), 3, width=4)
    return Registration(
        model_name="digits",
        version=version,
        model=model,
        class_names=("a", "b", "c"),
        image_shape=(8, 8, 1),
        infra=infra,
    )


def _samples() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(6, 8, 8, 1), dtype=np.uint8)


@pytest.mark.parametrize("asked", [4, 50], ids=["some", "more than the split holds"])
def test_the_check_predicts_on_the_first_images_of_the_test_split(
    tmp_path: Path, asked: int
) -> None:
    images = np.random.default_rng(1).integers(0, 256, size=(10, 8, 8, 1), dtype=np.uint8)
    test = ImageDataset(images, np.arange(10) % 3, ("a", "b", "c"), np.arange(10).astype(str))
    write_arrays(test, tmp_path / "test", images_per_shard=3)
    model = _registration(1, InfraCheck(_samples(), np.zeros((6, 3)))).model
    settings = {"samples": asked, "tolerance": 2e-4, "max_p99_ms": 50}

    check = infra_check(model, ShardedDataset(tmp_path / "test"), settings)

    shown = min(asked, 10)
    np.testing.assert_array_equal(check.samples, images[:shown])
    expected = model.predict(images[:shown].astype(np.float32), verbose=0)
    np.testing.assert_allclose(check.expected, expected, rtol=1e-6)
    assert (check.tolerance, check.max_p99_ms) == (2e-4, 50.0)


@pytest.mark.slow
def test_an_export_matching_its_model_is_registered_with_the_report(tmp_path: Path) -> None:
    import tensorflow as tf

    registration = _registration(1, InfraCheck(_samples(), np.zeros((6, 3))))
    expected = registration.model.predict(_samples().astype(np.float32), verbose=0)
    # Expected probabilities off by a known amount, within the tolerance: each
    # signature's measured difference must then be that amount, give or take float32.
    offset, tolerance = 3e-5, 1e-4
    check = InfraCheck(_samples(), expected + offset, tolerance=tolerance)
    lineage = {"blessing": {"blessed": True, "reason": "meets the minimum"}}
    registration = Registration(**{**registration.__dict__, "infra": check, "lineage": lineage})
    path = register(tmp_path, registration)
    assert list_versions(tmp_path, "digits") == [1]
    record = json.loads((path / LINEAGE_FILE).read_text())
    assert record["blessing"] == lineage["blessing"], "the infra report joins the lineage"
    report = record["infra_validation"]
    assert report["passed"] is True
    assert report["reason"] == "the export loads in a fresh process and matches"
    assert report["samples"] == 6
    signatures = set(tf.saved_model.load(str(path)).signatures)
    assert set(report["max_difference"]) == signatures, "every signature is checked"
    for signature, difference in report["max_difference"].items():
        assert difference == pytest.approx(offset, abs=2e-6), signature
        assert difference <= tolerance
    assert report["p99_ms"] >= report["p50_ms"] > 0
    assert report["load_s"] > 0


@pytest.mark.slow
def test_an_export_whose_outputs_differ_is_not_registered(tmp_path: Path) -> None:
    wrong = np.full((6, 3), 1 / 3)
    with pytest.raises(InfraValidationError) as raised:
        register(tmp_path, _registration(1, InfraCheck(_samples(), wrong, tolerance=1e-4)))
    message = str(raised.value)
    assert "serving_default outputs differ from the in-memory model's" in message
    assert "not registered" in message
    assert list_versions(tmp_path, "digits") == []
    assert read_labels(tmp_path) == {}
    assert read_events(tmp_path, "digits") == []
    leftovers = (
        [p.name for p in (tmp_path / "digits").iterdir()] if (tmp_path / "digits").exists() else []
    )
    assert leftovers == []


@pytest.mark.slow
def test_a_latency_bound_too_tight_fails(tmp_path: Path) -> None:
    registration = _registration(1, InfraCheck(_samples(), np.zeros((6, 3))))
    expected = registration.model.predict(_samples().astype(np.float32), verbose=0)
    check = InfraCheck(_samples(), expected, max_p99_ms=0.0001)
    with pytest.raises(InfraValidationError, match="p99 single-image latency"):
        register(tmp_path, Registration(**{**registration.__dict__, "infra": check}))
    assert list_versions(tmp_path, "digits") == []


def test_an_export_that_fails_stops_the_process_started_ahead_to_check_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[FreshProcess] = []

    def start() -> FreshProcess:
        started.append(FreshProcess())
        return started[-1]

    def broken_export(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "take_fresh_process", start)
    monkeypatch.setattr(export, "export_saved_model", broken_export)
    registration = _registration(1, InfraCheck(_samples(), np.zeros((6, 3))))
    with pytest.raises(OSError, match="disk full"):
        register(tmp_path, registration)
    (fresh,) = started
    assert fresh.process.poll() is not None  # killed, not left waiting for an export
    assert list_versions(tmp_path, "digits") == []


def test_a_process_started_ahead_and_never_told_exits_cleanly(tmp_path: Path) -> None:
    fresh = FreshProcess()
    _, stderr = fresh.process.communicate("", timeout=120)  # its parent closed the pipe
    assert fresh.process.returncode == 0, stderr
    assert list(tmp_path.iterdir()) == []


def test_a_registration_takes_the_process_started_ahead_while_it_waits() -> None:
    start_fresh_process_ahead()
    start_fresh_process_ahead()  # a second call starts no second process
    (ahead,) = infra._ahead
    taken = take_fresh_process()
    try:
        assert taken is ahead
        assert infra._ahead == [], "taken once: the next registration starts its own"
    finally:
        taken.stop()
    fresh = take_fresh_process()
    try:
        assert fresh is not ahead and fresh.process.poll() is None
    finally:
        fresh.stop()


def test_a_process_started_ahead_that_died_is_replaced() -> None:
    start_fresh_process_ahead()
    (ahead,) = infra._ahead
    ahead.stop()
    fresh = take_fresh_process()
    try:
        assert fresh is not ahead and fresh.process.poll() is None
    finally:
        fresh.stop()


def test_a_process_started_ahead_and_not_taken_is_stopped() -> None:
    start_fresh_process_ahead()
    (ahead,) = infra._ahead
    stop_fresh_process_ahead()
    assert ahead.process.poll() is not None
    assert infra._ahead == []
    stop_fresh_process_ahead()  # nothing left to stop
