"""The retraining triggers' decisions, as pure functions of what was observed.

Each returns a :class:`Check`: the trigger, ``retrain`` or ``skip``, the reason in
words, and the numbers behind it. Gathering those observations (hashing the source,
profiling it, reading the registry) is :mod:`visionops.scheduling.checks`' job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RETRAIN = "retrain"
SKIP = "skip"
SCHEDULE = "schedule"
NEW_DATA = "new_data"
DRIFT = "drift"
MODEL_AGE = "model_age"
LIVE_DRIFT = "live_drift"
LIVE_ACCURACY = "live_accuracy"
SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class Check:
    """One trigger's verdict on one tick.

    Attributes:
        trigger: Which trigger decided (:data:`SCHEDULE`, :data:`NEW_DATA`, ...).
        decision: :data:`RETRAIN` or :data:`SKIP`.
        reason: Why, in words.
        details: The observations behind it, JSON-ready.
    """

    trigger: str
    decision: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def fires(self) -> bool:
        """Whether this check asks for a retrain."""
        return self.decision == RETRAIN


def disabled(trigger: str) -> Check:
    """The verdict of a trigger turned off in the settings."""
    return Check(trigger, SKIP, f"{trigger} trigger is off (triggers.{trigger} in scheduling.yml)")


def failed(trigger: str, error: Exception) -> Check:
    """The verdict of a trigger whose observations could not be gathered."""
    return Check(
        trigger, SKIP, f"could not check {trigger}: {error}", {"error": type(error).__name__}
    )


def schedule_check(retrain_on_schedule: bool, cron: str) -> Check:
    """The time trigger: the tick itself retrains when ``retrain_on_schedule`` is set."""
    if retrain_on_schedule:
        return Check(SCHEDULE, RETRAIN, f"scheduled retrain ({cron})", {"cron": cron})
    return Check(
        SCHEDULE,
        SKIP,
        "retrain_on_schedule is false: the tick retrains only if another trigger fires",
        {"cron": cron},
    )


def new_data_check(current: dict[str, Any], last: dict[str, Any] | None) -> Check:
    """Retrains when the source's hash differs from the last successful retrain's.

    Args:
        current: The source's fingerprint now (``digest``, ``files``, ``bytes``, ...).
        last: The fingerprint recorded after the last successful retrain; None when no
            retrain was recorded, which also retrains (``dvc repro`` reruns nothing if
            the pipeline already ran on this data) and so records a first hash.
    """
    details = {"current": current, "last": last}
    if last is None:
        return Check(
            NEW_DATA,
            RETRAIN,
            f"no data hash recorded yet for {current['location']}: run the pipeline once "
            "to record it (dvc repro reruns nothing if it already ran on this data)",
            details,
        )
    if last.get("digest") == current["digest"]:
        return Check(
            NEW_DATA,
            SKIP,
            f"no new data: {current['location']} has the same {current['files']} file(s) "
            "as at the last successful retrain",
            details,
        )
    change = current["files"] - int(last.get("files", 0))
    counted = f"{change:+d} file(s)" if change else "the same number of files"
    return Check(
        NEW_DATA,
        RETRAIN,
        f"new data: {current['location']} changed since the last successful retrain "
        f"({counted}, now {current['files']})",
        details,
    )


def drift_check(report: dict[str, Any]) -> Check:
    """Retrains when a drift check of ``report`` is past its threshold.

    Args:
        report: ``{"reference": origin or None, "note": str, "checks": [...]}``, as
            :func:`visionops.validation.gate.check_drift` returns it.
    """
    if report["reference"] is None:
        return Check(DRIFT, SKIP, report["note"] or "drift not checked", report)
    past = [check for check in report["checks"] if check["status"] != "ok"]
    if not past:
        return Check(
            DRIFT, SKIP, f"no drift past the thresholds against {report['reference']}", report
        )
    names = ", ".join(
        f"{check['check']} {check['distance']:.3f} > {check['max_distance']:g}" for check in past
    )
    return Check(DRIFT, RETRAIN, f"drift against {report['reference']}: {names}", report)


def live_drift_check(figures: dict[str, Any]) -> Check:
    """Retrains when the production traffic's inputs drifted past a threshold.

    Args:
        figures: ``visionops monitor``'s figures over the scheduler's ``live_window``.
    """
    details = {
        "model": figures["model"],
        "version": figures["version"],
        "window": figures["window"],
        "images": figures["images"],
        "input_drift": figures["input_drift"],
    }
    past = [a for a in figures["alerts"] if a["check"].startswith("input_drift.")]
    if not past:
        judged = [c for c in figures["input_drift"]["checks"] if c["status"] != "not judged"]
        why = "no live input drift past the thresholds" if judged else "too few images to judge"
        return Check(
            LIVE_DRIFT,
            SKIP,
            f"{why} ({figures['images']} images since {figures['window']['since']})",
            details,
        )
    names = ", ".join(
        f"{alert['check'].removeprefix('input_drift.')} {alert['value']:.3f} "
        f"> {alert['threshold']:g}"
        for alert in past
    )
    return Check(
        LIVE_DRIFT,
        RETRAIN,
        f"live inputs of {figures['model']}:{figures['version']} drifted: {names}",
        details,
    )


def live_accuracy_check(figures: dict[str, Any]) -> Check:
    """Retrains when the accuracy on feedback labels is below its threshold, judged from
    ``min_labels`` labels on.

    Args:
        figures: ``visionops monitor``'s figures over the scheduler's ``live_window``.
    """
    accuracy = figures["accuracy"]
    details = {"model": figures["model"], "version": figures["version"], **accuracy}
    where = f"{figures['model']}:{figures['version']}"
    if accuracy["status"] == "not judged":
        return Check(
            LIVE_ACCURACY,
            SKIP,
            f"{accuracy['labels']} feedback label(s) for {where}; accuracy is judged from "
            f"{accuracy['min_labels']} on",
            details,
        )
    if accuracy["status"] == "ok":
        return Check(
            LIVE_ACCURACY,
            SKIP,
            f"live accuracy of {where} is {accuracy['accuracy']:.3f} on {accuracy['labels']} "
            f"labels (at least {accuracy['min_accuracy']:g})",
            details,
        )
    return Check(
        LIVE_ACCURACY,
        RETRAIN,
        f"live accuracy of {where} is {accuracy['accuracy']:.3f} on {accuracy['labels']} "
        f"feedback labels, below {accuracy['min_accuracy']:g}",
        details,
    )


def model_age_check(
    model: str,
    version: int | None,
    registered_at: datetime | None,
    now: datetime,
    max_age_days: float,
) -> Check:
    """Retrains when no version is in production, or it was registered too long ago.

    Args:
        model: The model's name in the registry.
        version: The production version; None when there is none.
        registered_at: When it was registered (timezone-aware); None if unknown.
        now: The current time (timezone-aware).
        max_age_days: The oldest a production version may be.
    """
    if version is None:
        return Check(
            MODEL_AGE, RETRAIN, f"no version of {model} is labelled production", {"model": model}
        )
    details: dict[str, Any] = {"model": model, "version": version, "max_age_days": max_age_days}
    if registered_at is None:
        return Check(MODEL_AGE, SKIP, f"{model}:{version} has no known registration time", details)
    age_days = (now - registered_at).total_seconds() / SECONDS_PER_DAY
    details |= {"registered_at": registered_at.isoformat(), "age_days": round(age_days, 3)}
    if age_days > max_age_days:
        return Check(
            MODEL_AGE,
            RETRAIN,
            f"production {model}:{version} is {age_days:.1f} days old, past "
            f"max_model_age_days {max_age_days:g}",
            details,
        )
    return Check(
        MODEL_AGE,
        SKIP,
        f"production {model}:{version} is {age_days:.1f} days old "
        f"(max_model_age_days {max_age_days:g})",
        details,
    )


def summarize(checks: list[Check]) -> Check:
    """The tick's decision: retrain when any check fires, naming every one that did."""
    firing = [check for check in checks if check.fires]
    if not firing:
        return Check("none", SKIP, "no trigger fired", {"checked": [c.trigger for c in checks]})
    return Check(
        "+".join(check.trigger for check in firing),
        RETRAIN,
        "; ".join(check.reason for check in firing),
        {"triggers": [check.trigger for check in firing]},
    )
