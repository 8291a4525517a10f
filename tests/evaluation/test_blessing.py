"""The blessing: value thresholds, not worse than production, first runs, forcing."""

from __future__ import annotations

import pytest

from visionops.errors import ConfigError
from visionops.evaluation.blessing import decide_blessing

PARAMS = {
    "min_accuracy": 0.9,
    "min_macro_f1": 0.0,
    "max_calibration_error": 1.0,
    "max_accuracy_drop": 0.0,
    "max_macro_f1_drop": 0.01,
    "first_run": "bless",
    "force": False,
    "force_reason": "",
}
CONTEXT = {"actor": "ana@ci", "time": "2026-11-28T03:00:00+00:00"}


def metrics(accuracy: float, macro_f1: float | None = None, calibration: float = 0.02) -> dict:
    return {
        "accuracy": accuracy,
        "macro_f1": accuracy if macro_f1 is None else macro_f1,
        "expected_calibration_error": calibration,
    }


def champion(accuracy: float, version: int = 3, macro_f1: float = 0.95) -> dict:
    return {"version": version, "comparable": True, "metrics": metrics(accuracy, macro_f1)}


def test_first_run_blesses_on_value_thresholds() -> None:
    blessing = decide_blessing(metrics(0.95), None, CONTEXT, PARAMS)
    assert blessing["blessed"] is True
    assert blessing["reason"].startswith("blessed: test accuracy 0.9500 meets the minimum 0.9000")
    assert "no model is in production yet" in blessing["reason"]
    assert blessing["champion_version"] is None


def test_first_run_refuse_policy() -> None:
    blessing = decide_blessing(metrics(0.95), None, CONTEXT, {**PARAMS, "first_run": "refuse"})
    assert blessing["blessed"] is False
    assert "evaluation.first_run is refuse" in blessing["reason"]


def test_a_better_champion_means_no_blessing_and_says_why() -> None:
    blessing = decide_blessing(metrics(0.95), champion(0.97), CONTEXT, PARAMS)
    assert blessing["blessed"] is False
    assert (
        "accuracy 0.9500 is worse than production version 3's 0.9700 on the same test split"
        in blessing["reason"]
    )
    assert blessing["champion_version"] == 3


def test_a_drop_within_the_allowance_is_blessed() -> None:
    params = {**PARAMS, "max_accuracy_drop": 0.03}
    blessing = decide_blessing(metrics(0.95), champion(0.97), CONTEXT, params)
    assert blessing["blessed"] is True
    assert "within the allowed drop of production version 3's 0.9700" in blessing["reason"]


def test_below_the_minimum_is_not_blessed_even_if_better_than_production() -> None:
    blessing = decide_blessing(metrics(0.85), champion(0.80), CONTEXT, PARAMS)
    assert blessing["blessed"] is False
    assert "test accuracy 0.8500 is below the minimum 0.9000" in blessing["reason"]


def test_calibration_threshold() -> None:
    params = {**PARAMS, "max_calibration_error": 0.05}
    blessing = decide_blessing(metrics(0.95, calibration=0.2), None, CONTEXT, params)
    assert blessing["blessed"] is False
    assert "expected calibration error 0.2000 exceeds the maximum 0.0500" in blessing["reason"]


def test_an_incomparable_production_model_blocks_the_blessing() -> None:
    other = {"version": 2, "comparable": False, "why": "serves classes ['cat', 'dog']"}
    blessing = decide_blessing(metrics(0.99), other, CONTEXT, PARAMS)
    assert blessing["blessed"] is False
    assert "production version 2 serves classes ['cat', 'dog']" in blessing["reason"]


def test_force_blesses_and_records_who_and_why() -> None:
    params = {**PARAMS, "force": True, "force_reason": "hotfix for the label mix-up"}
    blessing = decide_blessing(metrics(0.95), champion(0.97), CONTEXT, params)
    assert blessing["blessed"] is True
    assert blessing["forced"] == {
        "by": "ana@ci",
        "at": "2026-11-28T03:00:00+00:00",
        "reason": "hotfix for the label mix-up",
    }
    assert blessing["reason"].startswith("blessed by force (ana@ci: hotfix for the label mix-up)")
    assert "worse than production version 3" in blessing["reason"]
    assert [check["passed"] for check in blessing["checks"]].count(False) == 1


def test_force_needs_a_reason() -> None:
    with pytest.raises(ConfigError, match="evaluation.force_reason"):
        decide_blessing(metrics(0.95), None, CONTEXT, {**PARAMS, "force": True})


def test_unknown_first_run_policy() -> None:
    with pytest.raises(ConfigError, match="evaluation.first_run"):
        decide_blessing(metrics(0.95), None, CONTEXT, {**PARAMS, "first_run": "maybe"})
