"""Reading a model's past and present: its versions, their labels, events and lineage.

What the registry knows about a model comes from its folder, ``models.config`` and its
audit log (:mod:`visionops.registry.events`); nothing here writes, and nothing imports
TensorFlow, so the command line stays quick.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionops.errors import RegistryError
from visionops.registry.events import APPROVED, PROMOTED, REGISTERED, ROLLED_BACK, read_events
from visionops.registry.layout import (
    LINEAGE_FILE,
    PRODUCTION,
    content_digest,
    list_models,
    list_versions,
    read_labels,
    version_dir,
)


@dataclass(frozen=True)
class VersionHistory:
    """What happened to one version, from the audit log and the registry as it is now.

    Attributes:
        version: The version number.
        exists: Whether its folder is still in the registry.
        registered_at: When it was registered (ISO-8601 UTC); ``None`` without an event.
        registered_by: Who registered it; ``None`` without an event.
        labels: The labels that point at it now.
        ever_production: Whether the production label has ever pointed at it.
        promotions: Every time a label moved onto it (at registration, by promotion or
            by rollback): ``seq``, ``time``, ``event``, ``label``, ``from``, ``actor``,
            ``reason``.
        approvals: Who approved it for production, each person once (see
            :mod:`visionops.registry.approvals`).
    """

    version: int
    exists: bool
    registered_at: str | None
    registered_by: str | None
    labels: list[str]
    ever_production: bool
    promotions: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[str] = field(default_factory=list)


def require_model(root: Path, model: str) -> None:
    """Raises a :class:`RegistryError` naming the known models unless ``model`` is one."""
    if list_versions(root, model) or model in read_labels(root):
        return
    known = ", ".join(list_models(root)) or "none"
    raise RegistryError(f"no model {model!r} in the registry at {root} (models: {known})")


def resolve_label(root: Path, model: str, label: str) -> int:
    """The version ``label`` of ``model`` points at.

    Raises:
        RegistryError: The model is unknown or has no such label.
    """
    require_model(root, model)
    model_labels = read_labels(root).get(model, {})
    if label not in model_labels:
        raise RegistryError(
            f"{model!r} has no label {label!r}; its labels: {describe_labels(model_labels)}"
        )
    return model_labels[label]


def history(root: Path, model: str) -> list[VersionHistory]:
    """One summary per version of ``model`` on disk or in its log, oldest first.

    Raises:
        RegistryError: The model is unknown or its log is unreadable.
    """
    require_model(root, model)
    events = read_events(root, model)
    on_disk = set(list_versions(root, model))
    labels_now = read_labels(root).get(model, {})
    logged = {event["version"] for event in events if isinstance(event.get("version"), int)}
    summaries = []
    for version in sorted(on_disk | logged):
        registered = next(
            (e for e in events if e.get("event") == REGISTERED and e.get("version") == version),
            {},
        )
        summaries.append(
            VersionHistory(
                version=version,
                exists=version in on_disk,
                registered_at=registered.get("time"),
                registered_by=registered.get("actor"),
                labels=sorted(name for name, value in labels_now.items() if value == version),
                ever_production=labels_now.get(PRODUCTION) == version
                or any((e.get("labels") or {}).get(PRODUCTION) == version for e in events),
                promotions=_moves_onto(events, version),
                approvals=approvers(events, version),
            )
        )
    return summaries


def describe_version(root: Path, model: str, version: int) -> dict[str, Any]:
    """Everything the registry knows about one version, as plain data.

    Returns:
        ``model``, ``version``, ``path``, ``labels``, ``size_bytes``, ``files``,
        ``registered`` (``time``, ``actor``, ``reason``, or ``None``), ``content``
        (``registered_sha256``, ``current_sha256``, ``intact``: whether the files are
        unchanged since registration, ``None`` when no digest was logged), ``lineage``
        (its ``metrics``, ``blessing``, ``code``, ``validation``, ``class_names``,
        ``image_shape``, ``weights_sha256`` and data ``source``, when recorded),
        ``approvals`` (who approved it, each person once) and ``events`` (every event
        about this version).

    Raises:
        RegistryError: The model or version does not exist.
    """
    path = require_version(root, model, version)
    events = read_events(root, model)
    files = [p for p in path.rglob("*") if p.is_file()]
    registered = next(
        (e for e in events if e.get("event") == REGISTERED and e.get("version") == version), None
    )
    logged_digest = ((registered or {}).get("details") or {}).get("content_sha256")
    current_digest = content_digest(path)
    return {
        "model": model,
        "version": version,
        "path": str(path.resolve()),
        "labels": sorted(k for k, v in read_labels(root).get(model, {}).items() if v == version),
        "size_bytes": sum(p.stat().st_size for p in files),
        "files": len(files),
        "registered": None
        if registered is None
        else {key: registered.get(key) for key in ("time", "actor", "reason")},
        "content": {
            "registered_sha256": logged_digest,
            "current_sha256": current_digest,
            "intact": None if logged_digest is None else logged_digest == current_digest,
        },
        "lineage": _lineage_summary(path),
        "approvals": approvers(events, version),
        "events": [event for event in events if _concerns(event, version)],
    }


def approvers(events: list[dict[str, Any]], version: int) -> list[str]:
    """The distinct people who approved ``version``, in the order of their first approval."""
    names: list[str] = []
    for event in events:
        if event.get("event") == APPROVED and event.get("version") == version:
            name = str(event.get("actor"))
            if name not in names:
                names.append(name)
    return names


def _concerns(event: dict[str, Any], version: int) -> bool:
    """Whether ``event`` happened to ``version`` or moved a label away from it."""
    details = event.get("details") or {}
    moved_from = [move.get("from") for move in (details.get("labels_moved") or {}).values()]
    return version in (event.get("version"), details.get("from"), *moved_from)


def _moves_onto(events: list[dict[str, Any]], version: int) -> list[dict[str, Any]]:
    moves = []
    for event in events:
        details = event.get("details") or {}
        if event.get("event") == REGISTERED and event.get("version") == version:
            pairs = [
                (name, move.get("from")) for name, move in details.get("labels_moved", {}).items()
            ]
        elif event.get("event") in (PROMOTED, ROLLED_BACK) and details.get("to") == version:
            pairs = [(details.get("label"), details.get("from"))]
        else:
            continue
        moves += [
            {
                "seq": event.get("seq"),
                "time": event.get("time"),
                "event": event.get("event"),
                "label": name,
                "from": previous,
                "actor": event.get("actor"),
                "reason": event.get("reason"),
            }
            for name, previous in pairs
        ]
    return moves


LINEAGE_SUMMARY_KEYS = ("metrics", "blessing", "code", "validation", "class_names", "image_shape")


def _lineage_summary(path: Path) -> dict[str, Any]:
    lineage_path = path / LINEAGE_FILE
    if not lineage_path.is_file():
        return {}
    try:
        lineage = json.loads(lineage_path.read_text())
    except (OSError, ValueError) as error:
        return {"error": f"{lineage_path} is unreadable: {error}"}
    if not isinstance(lineage, dict):
        return {"error": f"{lineage_path} is not a JSON object"}
    summary = {key: lineage[key] for key in LINEAGE_SUMMARY_KEYS if key in lineage}
    training = lineage.get("training") or {}
    if isinstance(training, dict) and training.get("weights_sha256"):
        summary["weights_sha256"] = training["weights_sha256"]
    parameters = lineage.get("parameters") or {}
    if isinstance(parameters, dict) and isinstance(parameters.get("ingestion"), dict):
        summary["source"] = {key: parameters["ingestion"].get(key) for key in ("source", "path")}
    return summary


def require_version(root: Path, model: str, version: int) -> Path:
    """The folder of ``version`` of ``model``.

    Raises:
        RegistryError: The model or the version does not exist (the message lists the
            versions that do).
    """
    require_model(root, model)
    path = version_dir(root, model, version)
    if not path.is_dir():
        versions = ", ".join(map(str, list_versions(root, model))) or "none"
        raise RegistryError(
            f"version {version} of {model!r} does not exist in {root} (versions: {versions})"
        )
    return path


def describe_labels(model_labels: dict[str, int]) -> str:
    """``candidate=4, production=3``, or ``none``: a model's labels for a message."""
    return ", ".join(f"{name}={value}" for name, value in sorted(model_labels.items())) or "none"
