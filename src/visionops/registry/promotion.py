"""Moving version labels (promotion, rollback) and reading a model's history.

Labels live in ``models.config``; every move is also an event in the model's audit log
(:mod:`visionops.registry.events`), which is where rollback learns what came before.
Nothing here imports TensorFlow, so the command line stays quick.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionops.errors import RegistryError
from visionops.registry.events import (
    PROMOTED,
    REGISTERED,
    ROLLED_BACK,
    append_event,
    exclusive_lock,
    read_events,
)
from visionops.registry.layout import (
    LABELS_LOCK,
    LINEAGE_FILE,
    MODELS_CONFIG,
    PRODUCTION,
    SAVED_MODEL_FILE,
    content_digest,
    list_models,
    list_versions,
    read_labels,
    version_dir,
    write_models_config,
)

logger = logging.getLogger(__name__)

_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class LabelMove:
    """A label's move from one version to another.

    Attributes:
        model: The model whose label moved.
        label: The label, e.g. ``production``.
        from_version: The version it pointed at before; ``None`` if it was new.
        to_version: The version it points at now.
        event: The event logged for the move; ``None`` when it already pointed there.
    """

    model: str
    label: str
    from_version: int | None
    to_version: int
    event: dict[str, Any] | None


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
    """

    version: int
    exists: bool
    registered_at: str | None
    registered_by: str | None
    labels: list[str]
    ever_production: bool
    promotions: list[dict[str, Any]] = field(default_factory=list)


def promote(
    root: Path,
    model: str,
    version: int,
    label: str = PRODUCTION,
    *,
    reason: str,
    actor: str | None = None,
) -> LabelMove:
    """Points ``label`` at ``version`` and logs a ``promoted`` event with its previous version.

    Promoting to the version the label already points at changes and logs nothing.

    Args:
        root: The registry's root folder.
        model: The model's name.
        version: The version to point the label at; it must be a SavedModel.
        label: The label to move.
        reason: Why, for the audit log; required.
        actor: Who; ``$VISIONOPS_ACTOR`` or the OS user at this host when not given.

    Returns:
        The move, with the event logged for it.

    Raises:
        RegistryError: The model or version does not exist, the version is not a
            SavedModel, the label is malformed, the reason is empty, or the log is
            unreadable.
    """
    _check_label(label)
    _check_reason(reason)
    _require_saved_model(root, model, version)
    with exclusive_lock(root / LABELS_LOCK):
        read_events(root, model)  # an unreadable log must stop us before the labels move
        labels = read_labels(root)
        model_labels = labels.setdefault(model, {})
        previous = model_labels.get(label)
        if previous == version:
            logger.info("%s %s is already version %d; nothing to do", model, label, version)
            return LabelMove(model, label, previous, version, event=None)
        model_labels[label] = version
        write_models_config(root, labels)
        event = append_event(
            root,
            model,
            PROMOTED,
            version=version,
            labels=model_labels,
            reason=reason,
            details={"label": label, "from": previous, "to": version},
            actor=actor,
        )
    logger.info("Promoted %s version %d to %s (was %s)", model, version, label, previous)
    return LabelMove(model, label, previous, version, event)


def rollback(
    root: Path, model: str, reason: str, label: str = PRODUCTION, actor: str | None = None
) -> LabelMove:
    """Points ``label`` back at the version it pointed at before the current one.

    The label's past comes from the audit log: every event records the labels after
    it, and a rollback undoes the move it rolls back, so rolling back twice goes two
    versions back, not back and forth. Versions whose folders were deleted are skipped.
    Logs a ``rolled_back`` event with ``from``, ``to`` and the skipped versions.

    Args:
        root: The registry's root folder.
        model: The model's name.
        reason: Why, for the audit log; required.
        label: The label to move back.
        actor: Who; ``$VISIONOPS_ACTOR`` or the OS user at this host when not given.

    Returns:
        The move, with the event logged for it.

    Raises:
        RegistryError: The model or label is unknown, the reason is empty, or the log
            names no earlier version of the label that still exists.
    """
    _check_label(label)
    _check_reason(reason)
    require_model(root, model)
    with exclusive_lock(root / LABELS_LOCK):
        events = read_events(root, model)
        labels = read_labels(root)
        model_labels = labels.setdefault(model, {})
        current = model_labels.get(label)
        if current is None:
            raise RegistryError(
                f"{model!r} has no {label!r} label in {root / MODELS_CONFIG}; there is "
                f"nothing to roll back (labels: {_describe_labels(model_labels)})"
            )
        target, skipped = _version_before(root, model, label_past(events, label, current))
        if target is None:
            gone = f" (skipped, no longer servable: {skipped})" if skipped else ""
            raise RegistryError(
                f"nothing to roll back to: {label} of {model!r} is version {current}, and "
                f"its events log names no earlier {label} version that still exists{gone}. "
                f"Promote a version instead: visionops models promote {model}:VERSION"
            )
        model_labels[label] = target
        write_models_config(root, labels)
        event = append_event(
            root,
            model,
            ROLLED_BACK,
            version=target,
            labels=model_labels,
            reason=reason,
            details={"label": label, "from": current, "to": target, "skipped": skipped},
            actor=actor,
        )
    logger.info("Rolled %s %s back from version %d to %d", model, label, current, target)
    return LabelMove(model, label, current, target, event)


def label_past(events: list[dict[str, Any]], label: str, current: int) -> list[int]:
    """The versions ``label`` pointed at, oldest first, ending with ``current``.

    A rollback removes the versions it rolled back from. When ``current`` (read from
    ``models.config``) is not the last version the log knows, a process died between
    moving the label and logging the move. A version the log never saw as ``label`` was
    a registration or promotion: it is added. One it did see may have been a rollback,
    so the past is cut back to its last appearance: the next rollback then goes further
    back, never forward to a version that was rolled back from.
    """
    past: list[int] = []
    for event in events:
        value = (event.get("labels") or {}).get(label)
        if value is None:
            continue
        if event.get("event") == ROLLED_BACK and (event.get("details") or {}).get("label") == label:
            while past and past[-1] != value:
                past.pop()
            if not past:
                past.append(value)
        elif not past or past[-1] != value:
            past.append(value)
    if past and past[-1] != current:
        logger.warning(
            "models.config says %s is version %d but the events log last moved it to %d: "
            "a process died before logging a move, or models.config was edited by hand",
            label,
            current,
            past[-1],
        )
    if current in past:
        del past[len(past) - past[::-1].index(current) :]
    else:
        past.append(current)
    return past


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
            f"{model!r} has no label {label!r}; its labels: {_describe_labels(model_labels)}"
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
        ``image_shape``, ``weights_sha256`` and data ``source``, when recorded) and
        ``events`` (every event
        about this version).

    Raises:
        RegistryError: The model or version does not exist.
    """
    path = _require_version(root, model, version)
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
        "events": [event for event in events if _concerns(event, version)],
    }


def _version_before(root: Path, model: str, past: list[int]) -> tuple[int | None, list[int]]:
    """The newest servable version before the last of ``past``, and those skipped."""
    current, skipped = past[-1], []
    for version in reversed(past[:-1]):
        if version == current:
            continue
        if _is_saved_model(root, model, version):
            return version, skipped
        skipped.append(version)
    return None, skipped


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


def _require_version(root: Path, model: str, version: int) -> Path:
    require_model(root, model)
    path = version_dir(root, model, version)
    if not path.is_dir():
        versions = ", ".join(map(str, list_versions(root, model))) or "none"
        raise RegistryError(
            f"version {version} of {model!r} does not exist in {root} (versions: {versions})"
        )
    return path


def _require_saved_model(root: Path, model: str, version: int) -> None:
    path = _require_version(root, model, version)
    if not (path / SAVED_MODEL_FILE).is_file():
        raise RegistryError(
            f"{path} is not a SavedModel (no {SAVED_MODEL_FILE}); it cannot be served, "
            "so no label may point at it"
        )


def _is_saved_model(root: Path, model: str, version: int) -> bool:
    return (version_dir(root, model, version) / SAVED_MODEL_FILE).is_file()


def _check_label(label: str) -> None:
    if not _LABEL.fullmatch(label):
        raise RegistryError(
            f"label {label!r} is not valid: use a letter, then letters, digits, '_' or '-' "
            "(e.g. production, candidate)"
        )


def _check_reason(reason: str) -> None:
    if not reason.strip():
        raise RegistryError("a reason is required: say why, for the audit log (--reason TEXT)")


def _describe_labels(model_labels: dict[str, int]) -> str:
    return ", ".join(f"{name}={value}" for name, value in sorted(model_labels.items())) or "none"
