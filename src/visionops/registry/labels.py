"""Moving version labels: promotion and rollback, each logged in the model's audit log.

Labels live in ``models.config``; every move is also an event in the model's audit log
(:mod:`visionops.registry.events`), which is where rollback learns what came before.
Nothing here imports TensorFlow, so the command line stays quick.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionops.errors import RegistryError
from visionops.files import locked
from visionops.registry.approvals import ApprovalRule, approvers, check_approvals
from visionops.registry.events import PROMOTED, ROLLED_BACK, append_event, read_events
from visionops.registry.history import describe_labels, require_model, require_version
from visionops.registry.layout import (
    LABELS_LOCK,
    MODELS_CONFIG,
    PRODUCTION,
    SAVED_MODEL_FILE,
    read_labels,
    version_dir,
    write_models_config,
)
from visionops.registry.reference import LABEL_PATTERN

logger = logging.getLogger(__name__)


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


def promote(
    root: Path,
    model: str,
    version: int,
    label: str = PRODUCTION,
    *,
    reason: str,
    actor: str | None = None,
    approvals: ApprovalRule | None = None,
) -> LabelMove:
    """Points ``label`` at ``version`` and logs a ``promoted`` event with its previous version.

    Promoting to the version the label already points at changes and logs nothing. The
    production label moves only onto a version that ``approvals.required`` distinct
    people approved (:mod:`visionops.registry.approvals`); the event names them.

    Args:
        root: The registry's root folder.
        model: The model's name.
        version: The version to point the label at; it must be a SavedModel.
        label: The label to move.
        reason: Why, for the audit log; required.
        actor: Who; ``$VISIONOPS_ACTOR`` or the OS user at this host when not given.
        approvals: The approvals production asks for; None asks for none.

    Returns:
        The move, with the event logged for it.

    Raises:
        RegistryError: The model or version does not exist, the version is not a
            SavedModel, the label is malformed, the reason is empty, the log is
            unreadable, or the version lacks the approvals production asks for.
    """
    _check_label(label)
    _check_reason(reason)
    _require_saved_model(root, model, version)
    with locked(root / LABELS_LOCK):
        events = read_events(root, model)  # an unreadable log stops us before labels move
        labels = read_labels(root)
        model_labels = labels.setdefault(model, {})
        previous = model_labels.get(label)
        if previous == version:
            logger.info("%s %s is already version %d; nothing to do", model, label, version)
            return LabelMove(model, label, previous, version, event=None)
        details: dict[str, Any] = {"label": label, "from": previous, "to": version}
        if label == PRODUCTION and approvals is not None and approvals.required > 0:
            check_approvals(events, model, version, label, approvals)
            details["approved_by"] = approvers(events, version)
        model_labels[label] = version
        write_models_config(root, labels)
        event = append_event(
            root,
            model,
            PROMOTED,
            version=version,
            labels=model_labels,
            reason=reason,
            details=details,
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
    with locked(root / LABELS_LOCK):
        events = read_events(root, model)
        labels = read_labels(root)
        model_labels = labels.setdefault(model, {})
        current = model_labels.get(label)
        if current is None:
            raise RegistryError(
                f"{model!r} has no {label!r} label in {root / MODELS_CONFIG}; there is "
                f"nothing to roll back (labels: {describe_labels(model_labels)})"
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


def _require_saved_model(root: Path, model: str, version: int) -> None:
    path = require_version(root, model, version)
    if not (path / SAVED_MODEL_FILE).is_file():
        raise RegistryError(
            f"{path} is not a SavedModel (no {SAVED_MODEL_FILE}); it cannot be served, "
            "so no label may point at it"
        )


def _is_saved_model(root: Path, model: str, version: int) -> bool:
    return (version_dir(root, model, version) / SAVED_MODEL_FILE).is_file()


def _check_label(label: str) -> None:
    if not LABEL_PATTERN.fullmatch(label):
        raise RegistryError(
            f"label {label!r} is not valid: use a letter, then letters, digits, '_' or '-' "
            "(e.g. production, candidate)"
        )


def _check_reason(reason: str) -> None:
    if not reason.strip():
        raise RegistryError("a reason is required: say why, for the audit log (--reason TEXT)")
