"""Rollouts in the registry: the state file, the candidate label, and an event per step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from visionops.errors import RegistryError
from visionops.registry.events import read_events, verify_chain
from visionops.registry.layout import read_labels, write_models_config
from visionops.registry.rollout import (
    CANARY,
    ROLLOUT_ENDED,
    ROLLOUT_PROMOTED,
    ROLLOUT_ROLLED_BACK,
    ROLLOUT_STARTED,
    SHADOW,
    finish_rollout,
    parse_share,
    read_rollout,
    roll_back_rollout,
    rollout_path,
    start_rollout,
    stop_rollout,
)

MODEL = "digits"
ACTOR = "releaser@ci"


@pytest.fixture
def registry(tmp_path: Path, add_version) -> Path:
    """Versions 1 (production) and 2 of digits, and a half-written version 3."""
    add_version(tmp_path, 1, ("production",))
    add_version(tmp_path, 2)
    (tmp_path / MODEL / "3").mkdir()
    return tmp_path


def test_a_canary_is_a_state_file_a_label_and_an_event(registry: Path) -> None:
    rollout = start_rollout(registry, MODEL, 2, CANARY, 0.1, reason="try v2", actor=ACTOR)

    assert read_rollout(registry, MODEL) == rollout
    assert (rollout.candidate, rollout.production) == (2, 1)
    assert (rollout.mode, rollout.share) == (CANARY, 0.1)
    assert json.loads(rollout_path(registry, MODEL).read_text())["id"] == rollout.id
    assert read_labels(registry)[MODEL] == {"production": 1, "candidate": 2}
    event = read_events(registry, MODEL)[-1]
    assert (event["event"], event["version"], event["actor"]) == (ROLLOUT_STARTED, 2, ACTOR)
    assert event["details"] == {
        "rollout": rollout.id,
        "mode": CANARY,
        "share": 0.1,
        "candidate": 2,
        "production": 1,
        "label": "candidate",
        "from": None,
        "to": 2,
    }
    assert event["reason"] == "try v2"
    assert verify_chain(registry, MODEL) == []


def test_a_breach_rolls_back_once_naming_the_guard(registry: Path) -> None:
    rollout = start_rollout(registry, MODEL, 2, SHADOW, reason="shadow v2", actor=ACTOR)

    event = roll_back_rollout(
        registry, MODEL, rollout.id, guard="error_rate", measured=0.25, limit=0.02, requests=80
    )
    again = roll_back_rollout(
        registry, MODEL, rollout.id, guard="error_rate", measured=0.3, limit=0.02, requests=90
    )

    assert event is not None and again is None, "a second server finds the rollout over"
    assert event["event"] == ROLLOUT_ROLLED_BACK
    assert event["details"]["guard"] == "error_rate"
    assert (event["details"]["measured"], event["details"]["limit"]) == (0.25, 0.02)
    breach = "guard error_rate breached: measured 0.25 over 80 requests, limit 0.02"
    assert event["reason"] == breach
    assert read_rollout(registry, MODEL) is None
    assert read_labels(registry)[MODEL] == {"production": 1}
    assert [e["event"] for e in read_events(registry, MODEL)].count(ROLLOUT_ROLLED_BACK) == 1
    assert verify_chain(registry, MODEL) == []


def test_moving_production_to_the_candidate_finishes_the_rollout(registry: Path) -> None:
    start_rollout(registry, MODEL, 2, CANARY, 0.5, reason="try v2", actor=ACTOR)
    assert finish_rollout(registry, MODEL) is None, "production has not moved yet"
    labels = read_labels(registry)
    labels[MODEL]["production"] = 2
    write_models_config(registry, labels)

    event = finish_rollout(registry, MODEL, actor=ACTOR)

    assert event is not None and event["event"] == ROLLOUT_PROMOTED
    assert read_rollout(registry, MODEL) is None
    assert read_labels(registry)[MODEL] == {"production": 2}


def test_moving_production_elsewhere_ends_the_rollout(registry: Path, add_version) -> None:
    add_version(registry, 4)
    start_rollout(registry, MODEL, 2, CANARY, 0.5, reason="try v2", actor=ACTOR)
    labels = read_labels(registry)
    labels[MODEL]["production"] = 4
    write_models_config(registry, labels)

    event = finish_rollout(registry, MODEL, actor=ACTOR)

    assert event is not None and event["event"] == ROLLOUT_ENDED
    assert "not to the candidate" in event["reason"]


def test_stopping_by_hand(registry: Path) -> None:
    start_rollout(registry, MODEL, 2, CANARY, 0.5, reason="try v2", actor=ACTOR)

    event = stop_rollout(registry, MODEL, "seen enough", actor=ACTOR)

    assert (event["event"], event["reason"]) == (ROLLOUT_ENDED, "seen enough")
    with pytest.raises(RegistryError, match="no rollout in progress"):
        stop_rollout(registry, MODEL, "again")


@pytest.mark.parametrize(
    ("version", "mode", "share", "reason", "message"),
    [
        (1, CANARY, 0.1, "r", "is production already"),
        (3, CANARY, 0.1, "r", r"digits:3 is not a SavedModel .*versions: 1, 2, 3"),
        (9, CANARY, 0.1, "r", "digits:9 is not a SavedModel"),
        (2, "blue", 0.1, "r", "mode 'blue' is not one of canary, shadow"),
        (2, CANARY, 0.0, "r", "must be above 0 and at most 1"),
        (2, CANARY, 0.1, " ", "a reason is required"),
    ],
)
def test_refused_rollouts_change_nothing(
    registry: Path, version: int, mode: str, share: float, reason: str, message: str
) -> None:
    before = len(read_events(registry, MODEL))
    with pytest.raises(RegistryError, match=message):
        start_rollout(registry, MODEL, version, mode, share, reason=reason)
    assert read_rollout(registry, MODEL) is None
    assert len(read_events(registry, MODEL)) == before


def test_one_rollout_at_a_time(registry: Path) -> None:
    start_rollout(registry, MODEL, 2, CANARY, 0.1, reason="try v2")
    with pytest.raises(RegistryError, match="a rollout is in progress already.*--stop"):
        start_rollout(registry, MODEL, 2, SHADOW, reason="again")


def test_a_broken_state_file_is_named_with_the_fix(registry: Path) -> None:
    rollout_path(registry, MODEL).write_text("{not json")
    with pytest.raises(RegistryError, match=r"rollout.json is not a rollout .*--stop"):
        read_rollout(registry, MODEL)


@pytest.mark.parametrize(("text", "share"), [("10%", 0.1), ("100%", 1.0), ("0.25", 0.25)])
def test_shares(text: str, share: float) -> None:
    assert parse_share(text) == pytest.approx(share)


@pytest.mark.parametrize("text", ["0", "0%", "150%", "2", "ten", "-5%"])
def test_bad_shares_say_how_to_write_one(text: str) -> None:
    with pytest.raises(RegistryError, match=r"e\.g\. 10%"):
        parse_share(text)
