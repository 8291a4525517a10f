"""A model card's contents, gathered from what the registry already holds.

The lineage record gives the data, validation, metrics, blessing and training
environment; the data profile gives the class balance; the audit log gives the
approvals; conf/base/release_card.yml gives the words no record holds. Missing parts
(an older record) are said to be missing, never made up. The result is plain data that
:mod:`card_markdown`, :mod:`card_html` and :mod:`cyclonedx` render.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from visionops.registry.events import APPROVED
from visionops.release.settings import CardText

HEADLINE = ("accuracy", "macro_f1", "expected_calibration_error")


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _class_balance(profile: Mapping[str, Any], record: Mapping[str, Any]) -> list[dict]:
    names = profile.get("class_names") or record.get("class_names") or []
    counts = profile.get("class_counts") or []
    if len(names) != len(counts) or not counts:
        return []
    total = sum(counts) or 1
    return [
        {"class": str(name), "count": int(count), "share": count / total}
        for name, count in zip(names, counts, strict=True)
    ]


def _per_class(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"class": str(name), **{k: v for k, v in _dict(scores).items()}}
        for name, scores in _dict(metrics.get("per_class")).items()
    ]


def _worst(per_class: Sequence[Mapping[str, Any]], count: int) -> list[dict[str, Any]]:
    scored = [row for row in per_class if isinstance(row.get("f1"), int | float)]
    scored.sort(key=lambda row: (row["f1"], row.get("recall", 0.0), row["class"]))
    return [dict(row) for row in scored[:count]]


def _calibration(metrics: Mapping[str, Any]) -> dict[str, Any]:
    error = metrics.get("expected_calibration_error")
    if isinstance(error, int | float):
        return {
            "expected_calibration_error": error,
            "method": "expected calibration error over 15 equal-width confidence bins of "
            "the test split's predicted probabilities",
        }
    return {
        "expected_calibration_error": None,
        "method": "not recorded: the evaluation kept no calibration error for this version "
        "(accuracy and per-class scores are what it gives)",
    }


def _production(metrics: Mapping[str, Any], blessing: Mapping[str, Any]) -> dict[str, Any]:
    production = metrics.get("production")
    if not isinstance(production, Mapping):
        return {"version": None, "summary": "no model was in production when it was evaluated"}
    version = production.get("version")
    if not production.get("comparable"):
        why = production.get("why") or "no reason recorded"
        return {"version": version, "summary": f"not comparable with version {version}: {why}"}
    theirs = _dict(production.get("metrics"))
    rows = [
        {"metric": key, "candidate": metrics.get(key), "production": theirs.get(key)}
        for key in HEADLINE
        if key in metrics or key in theirs
    ]
    summary = f"scored against production version {version} on the same test split"
    if blessing.get("champion_version") not in (None, version):
        summary += f" (blessed against version {blessing['champion_version']})"
    return {"version": version, "summary": summary, "rows": rows}


def _data(record: Mapping[str, Any], profile: Mapping[str, Any]) -> dict[str, Any]:
    validation = _dict(record.get("validation"))
    metrics = _dict(record.get("metrics"))
    return {
        "sources": _sources(record),
        "images": profile.get("images", validation.get("images")),
        "test_images": metrics.get("test_images"),
        "class_balance": _class_balance(profile, record),
        "validation": validation,
    }


def _sources(record: Mapping[str, Any]) -> str | None:
    """What the data was ingested from, in words: each source, its path and images, and
    the production feedback a source held."""
    described = _dict(record.get("data_source"))
    entries = described.get("sources")
    if not isinstance(entries, list):
        ingestion = _dict(_dict(record.get("parameters")).get("ingestion"))
        single = described or ingestion
        entries = [single] if single.get("source") else []
    parts = []
    for item in entries:
        entry = _dict(item)
        text = str(entry.get("source"))
        if entry.get("path"):
            text += f" at {entry['path']}"
        if entry.get("images") is not None:
            text += f" ({entry['images']} images)"
        feedback = _dict(entry.get("feedback"))
        if feedback:
            segments = len(feedback.get("segments") or [])
            text += (
                f", production feedback of {feedback.get('model')}: "
                f"{feedback.get('images')} labelled images from {segments} log segment(s)"
            )
        parts.append(text)
    return "; ".join(parts) or None


def _environment(record: Mapping[str, Any], release: Mapping[str, Any]) -> dict[str, Any]:
    training = _dict(record.get("training"))
    versions = {**_dict(training.get("versions")), **_dict(record.get("versions"))}
    environment = _dict(release.get("environment"))
    return {
        "python": versions.get("python") or environment.get("python"),
        "tensorflow": versions.get("tensorflow"),
        "keras": versions.get("keras"),
        "numpy": versions.get("numpy"),
        "visionops": versions.get("visionops"),
        "platform": environment.get("platform"),
        "devices": training.get("devices"),
        "strategy": training.get("strategy"),
        "precision": training.get("precision"),
    }


def _training(record: Mapping[str, Any]) -> dict[str, Any]:
    training = _dict(record.get("training"))
    parameters = _dict(_dict(record.get("parameters")).get("training"))
    kept = ("epochs_run", "epochs_requested", "best_epoch", "seed", "deterministic")
    return {
        "architecture": parameters.get("architecture"),
        "parameters": parameters,
        **{key: training.get(key) for key in kept},
        "weights_sha256": training.get("weights_sha256"),
    }


def approvals(events: Sequence[Mapping[str, Any]], version: int) -> list[dict[str, Any]]:
    """The ``approval`` events of the audit log that name ``version``, oldest first."""
    return [
        {
            "actor": event.get("actor"),
            "time": event.get("time"),
            "reason": event.get("reason") or "",
            "details": _dict(event.get("details")),
        }
        for event in events
        if event.get("event") == APPROVED and event.get("version") == version
    ]


def build_card(
    model: str,
    version: int,
    record: Mapping[str, Any],
    profile: Mapping[str, Any] | None,
    events: Sequence[Mapping[str, Any]],
    text: CardText,
    labels: Sequence[str] = (),
    release: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The card of ``model`` version ``version``, as JSON-ready data.

    Args:
        model: The model's name.
        version: The version.
        record: Its lineage record (``lineage.json``).
        profile: Its training data profile, or None.
        events: The model's audit log (its approvals are picked out).
        text: The words from conf/base/release_card.yml.
        labels: The labels that point at the version now.
        release: Its signature, SBOM and environment summary
            (:func:`visionops.release.publish.release_summary`); None when it has none.
    """
    metrics = _dict(record.get("metrics"))
    blessing = _dict(record.get("blessing"))
    release = _dict(release)
    per_class = _per_class(metrics)
    text_fields = asdict(text)
    return {
        "model": model,
        "version": version,
        "labels": list(labels),
        "registered_by": record.get("registered_by"),
        "registered_at": record.get("registered_at"),
        "class_names": list(record.get("class_names") or []),
        "image_shape": list(record.get("image_shape") or []),
        "code": _dict(record.get("code")),
        "considerations": {
            **{k: list(v) for k, v in text_fields.items() if k != "worst_classes"},
            "ethical_considerations": [list(pair) for pair in text.ethical_considerations],
        },
        "data": _data(record, profile or {}),
        "metrics": {
            "overall": {key: metrics[key] for key in (*HEADLINE, "test_images") if key in metrics},
            "per_class": per_class,
            "calibration": _calibration(metrics),
            "worst_classes": _worst(per_class, text.worst_classes),
        },
        "production": _production(metrics, blessing),
        "blessing": {
            "blessed": blessing.get("blessed"),
            "reason": blessing.get("reason") or "no blessing recorded",
            "checks": [dict(check) for check in blessing.get("checks") or []],
            "forced": blessing.get("forced"),
        },
        "training": _training(record),
        "environment": _environment(record, release),
        "approvals": approvals(events, version),
        "signing": _dict(release.get("signing")),
        "sbom": _dict(release.get("sbom")),
    }
