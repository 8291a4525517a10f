"""Promotion and rollback: labels move atomically and every move is logged."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from visionops.errors import RegistryError
from visionops.registry.events import read_events, verify_chain
from visionops.registry.labels import label_past, promote, rollback
from visionops.registry.layout import (
    MODELS_CONFIG,
    SAVED_MODEL_FILE,
    events_path,
    read_labels,
    version_dir,
    write_models_config,
)

MODEL = "digits"
REGISTRAR = "tester@ci"  # who the conftest's stand-in registrations are logged as


def production(root: Path) -> int | None:
    return read_labels(root)[MODEL].get("production")


def test_promote_moves_the_label_and_logs_the_previous_version(three_productions: Path) -> None:
    move = promote(three_productions, MODEL, 1, reason="v3 misclassifies scans", actor="bob@ops")
    assert production(three_productions) == 1
    assert (move.from_version, move.to_version) == (3, 1)
    event = read_events(three_productions, MODEL)[-1]
    assert event == move.event
    assert event["event"] == "promoted"
    assert event["version"] == 1
    assert event["labels"] == {"production": 1}
    assert event["details"] == {"label": "production", "from": 3, "to": 1}
    assert (event["actor"], event["reason"]) == ("bob@ops", "v3 misclassifies scans")
    assert verify_chain(three_productions, MODEL) == []


def test_promote_a_new_label_keeps_the_others(three_productions: Path) -> None:
    move = promote(three_productions, MODEL, 2, "candidate", reason="shadow traffic")
    assert move.from_version is None
    assert read_labels(three_productions) == {MODEL: {"production": 3, "candidate": 2}}


def test_promote_to_the_current_version_changes_nothing(three_productions: Path) -> None:
    before = events_path(three_productions, MODEL).read_bytes()
    move = promote(three_productions, MODEL, 3, reason="again")
    assert move.event is None
    assert events_path(three_productions, MODEL).read_bytes() == before


@pytest.mark.parametrize(
    ("model", "version", "label", "reason", "message"),
    [
        (
            "pets",
            1,
            "production",
            "why",
            r"no model 'pets' in the registry at .* \(models: digits\)",
        ),
        (MODEL, 9, "production", "why", "version 9 of 'digits' does not exist .*1, 2, 3"),
        (MODEL, 1, "prod uction", "why", "label 'prod uction' is not valid"),
        (MODEL, 1, "7", "why", "label '7' is not valid"),
        (MODEL, 1, "production", "  ", "a reason is required"),
    ],
    ids=["unknown-model", "unknown-version", "label-with-space", "numeric-label", "no-reason"],
)
def test_promote_refuses_bad_requests_and_changes_nothing(
    three_productions: Path, model: str, version: int, label: str, reason: str, message: str
) -> None:
    config = (three_productions / MODELS_CONFIG).read_text()
    log = events_path(three_productions, MODEL).read_bytes()
    with pytest.raises(RegistryError, match=message):
        promote(three_productions, model, version, label, reason=reason)
    assert (three_productions / MODELS_CONFIG).read_text() == config
    assert events_path(three_productions, MODEL).read_bytes() == log


def test_promote_refuses_a_folder_that_is_not_a_saved_model(three_productions: Path) -> None:
    (version_dir(three_productions, MODEL, 2) / SAVED_MODEL_FILE).unlink()
    with pytest.raises(RegistryError, match="not a SavedModel"):
        promote(three_productions, MODEL, 2, reason="why")
    assert production(three_productions) == 3


def test_rollback_walks_back_one_production_at_a_time(three_productions: Path) -> None:
    """Rolling back twice goes two versions back, not back and forth."""
    first = rollback(three_productions, MODEL, "v3 latency regression")
    assert (first.from_version, first.to_version) == (3, 2)
    assert production(three_productions) == 2
    second = rollback(three_productions, MODEL, "v2 too")
    assert (second.from_version, second.to_version) == (2, 1)
    assert second.event is not None
    assert second.event["event"] == "rolled_back"
    assert second.event["details"] == {"label": "production", "from": 2, "to": 1, "skipped": []}
    assert second.event["reason"] == "v2 too"
    with pytest.raises(RegistryError, match="nothing to roll back to: production of 'digits'"):
        rollback(three_productions, MODEL, "and again")
    assert production(three_productions) == 1
    assert verify_chain(three_productions, MODEL) == []


def test_rollback_undoes_a_promotion_of_an_older_version(three_productions: Path) -> None:
    promote(three_productions, MODEL, 1, reason="emergency: back to the known good one")
    assert rollback(three_productions, MODEL, "false alarm").to_version == 3


def test_rollback_skips_versions_that_were_deleted(three_productions: Path) -> None:
    shutil.rmtree(version_dir(three_productions, MODEL, 2))
    move = rollback(three_productions, MODEL, "v3 is bad")
    assert move.to_version == 1
    assert move.event is not None
    assert move.event["details"]["skipped"] == [2]


def test_rollback_of_another_label(three_productions: Path) -> None:
    promote(three_productions, MODEL, 1, "candidate", reason="try 1")
    promote(three_productions, MODEL, 2, "candidate", reason="try 2")
    assert rollback(three_productions, MODEL, "2 is worse", label="candidate").to_version == 1
    assert read_labels(three_productions)[MODEL] == {"production": 3, "candidate": 1}


def test_rollback_with_a_single_production_version_says_so(
    tmp_path: Path, add_version: Callable[..., Path]
) -> None:
    add_version(tmp_path, 1, ("production",))
    add_version(tmp_path, 2, ("candidate",))
    with pytest.raises(RegistryError, match="no earlier production version"):
        rollback(tmp_path, MODEL, "why")


@pytest.mark.parametrize(
    ("model", "label", "reason", "message"),
    [
        ("pets", "production", "why", "no model 'pets'"),
        (MODEL, "canary", "why", "'digits' has no 'canary' label .* production=3"),
        (MODEL, "production", "", "a reason is required"),
    ],
    ids=["unknown-model", "unknown-label", "no-reason"],
)
def test_rollback_refuses_bad_requests(
    three_productions: Path, model: str, label: str, reason: str, message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        rollback(three_productions, model, reason, label)
    assert production(three_productions) == 3


def test_rollback_after_a_registration_died_before_its_event(three_productions: Path) -> None:
    """Version 4 was labelled production but never logged: rollback returns to 3."""
    (version_dir(three_productions, MODEL, 4) / "variables").mkdir(parents=True)
    (version_dir(three_productions, MODEL, 4) / SAVED_MODEL_FILE).write_bytes(b"model")
    write_models_config(three_productions, {MODEL: {"production": 4}})
    assert rollback(three_productions, MODEL, "undo").to_version == 3


def test_rollback_after_a_rollback_died_before_its_event(three_productions: Path) -> None:
    """models.config went from 3 back to 2 unlogged: the next rollback goes on to 1, not 3."""
    write_models_config(three_productions, {MODEL: {"production": 2}})
    assert rollback(three_productions, MODEL, "undo").to_version == 1


def test_label_past_replays_moves_and_rollbacks() -> None:
    def event(kind: str, value: int) -> dict:
        return {"event": kind, "labels": {"production": value}, "details": {"label": "production"}}

    events = [event("registered", 1), event("registered", 2), event("promoted", 4)]
    events += [event("rolled_back", 2), event("registered", 2), event("promoted", 5)]
    assert label_past(events, "production", 5) == [1, 2, 5]
    assert label_past(events, "production", 7) == [1, 2, 5, 7]
    assert label_past(events, "candidate", 1) == [1]
