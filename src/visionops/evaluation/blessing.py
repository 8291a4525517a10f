"""The blessing: may this model replace the one in production? Decided, and said why.

As TFX's Evaluator does: value thresholds (accuracy at least X), and change
thresholds against the production model, which is scored now on the same test
split, never trusted from its old numbers. With no production model, the first-run
policy decides. A forced blessing is recorded with who forced it and why.
"""

from __future__ import annotations

from typing import Any

from visionops.errors import ConfigError

FIRST_RUN_POLICIES = ("bless", "refuse")


def _check(name: str, passed: bool, sentence: str) -> dict[str, Any]:
    return {"check": name, "passed": bool(passed), "reason": sentence}


def value_checks(metrics: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Absolute thresholds on the candidate's own metrics."""
    accuracy, f1 = metrics["accuracy"], metrics["macro_f1"]
    calibration = metrics["expected_calibration_error"]
    minimum_accuracy = float(params["min_accuracy"])
    minimum_f1 = float(params.get("min_macro_f1", 0.0))
    maximum_calibration = float(params.get("max_calibration_error", 1.0))
    accuracy_verdict = "meets" if accuracy >= minimum_accuracy else "is below"
    return [
        _check(
            "min_accuracy",
            accuracy >= minimum_accuracy,
            f"test accuracy {accuracy:.4f} {accuracy_verdict} the minimum {minimum_accuracy:.4f}",
        ),
        _check(
            "min_macro_f1",
            f1 >= minimum_f1,
            f"macro F1 {f1:.4f} {'meets' if f1 >= minimum_f1 else 'is below'} the minimum "
            f"{minimum_f1:.4f}",
        ),
        _check(
            "max_calibration_error",
            calibration <= maximum_calibration,
            f"expected calibration error {calibration:.4f} "
            f"{'is within' if calibration <= maximum_calibration else 'exceeds'} the maximum "
            f"{maximum_calibration:.4f}",
        ),
    ]


def change_checks(
    metrics: dict[str, Any], champion: dict[str, Any], params: dict[str, Any]
) -> list[dict[str, Any]]:
    """The candidate against the production model, both scored on this test split."""
    where = f"production version {champion['version']}"
    if not champion.get("comparable", True):
        return [_check("comparable_with_production", False, f"{where} {champion['why']}")]
    checks = []
    for metric, label in (("accuracy", "accuracy"), ("macro_f1", "macro F1")):
        allowed = float(params.get(f"max_{metric}_drop", 0.0))
        ours, theirs = metrics[metric], champion["metrics"][metric]
        passed = ours >= theirs - allowed
        relation = (
            "at least as good as"
            if ours >= theirs
            else ("within the allowed drop of" if passed else "worse than")
        )
        checks.append(
            _check(
                f"max_{metric}_drop",
                passed,
                f"{label} {ours:.4f} is {relation} {where}'s {theirs:.4f} on the same test "
                f"split (allowed drop {allowed:.4f})",
            )
        )
    return checks


def decide_blessing(
    metrics: dict[str, Any],
    champion: dict[str, Any] | None,
    run_context: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Decides whether the candidate may be deployed.

    Args:
        metrics: The candidate's metrics on the test split.
        champion: ``{"version", "metrics"}`` of the production model scored on the
            same split, ``{"version", "comparable": False, "why"}`` when it cannot be,
            or None when nothing is in production.
        run_context: Who runs this (``actor``) and when (``time``), for a forced blessing.
        params: The ``evaluation`` parameters.

    Returns:
        ``{"blessed", "reason", "checks", "champion_version", "forced"}``; the reason
        is one plain sentence naming the failed checks, or why it passed.

    Raises:
        ConfigError: An unknown first-run policy, or ``force`` without a reason.
    """
    policy = params.get("first_run", "bless")
    if policy not in FIRST_RUN_POLICIES:
        raise ConfigError(
            f"evaluation.first_run must be one of {', '.join(FIRST_RUN_POLICIES)}; got {policy!r}"
        )
    checks = value_checks(metrics, params)
    if champion is not None:
        checks += change_checks(metrics, champion, params)
    else:
        checks.append(
            _check(
                "first_run",
                policy == "bless",
                "no model is in production yet and evaluation.first_run is "
                + ("bless" if policy == "bless" else "refuse"),
            )
        )
    failed = [check for check in checks if not check["passed"]]
    blessed = not failed
    if failed:
        reason = "not blessed: " + "; ".join(check["reason"] for check in failed)
    else:
        reason = "blessed: " + "; ".join(
            check["reason"]
            for check in checks
            if check["check"] in ("min_accuracy", "max_accuracy_drop", "first_run")
        )
    forced = None
    if params.get("force"):
        why = str(params.get("force_reason") or "").strip()
        if not why:
            raise ConfigError(
                "evaluation.force is set without evaluation.force_reason: say why the "
                "checks are overridden, e.g. --params evaluation.force_reason='hotfix for ...'"
            )
        forced = {"by": run_context.get("actor"), "at": run_context.get("time"), "reason": why}
        if failed:
            blessed = True
            reason = f"blessed by force ({forced['by']}: {why}) although " + "; ".join(
                check["reason"] for check in failed
            )
    return {
        "blessed": blessed,
        "reason": reason,
        "checks": checks,
        "champion_version": champion["version"] if champion else None,
        "forced": forced,
    }
