"""Canary and shadow rollouts in the registry: the state file, the label, the events.

A rollout tries a candidate version beside production before it is promoted::

    <root>/<model>/rollout.json    the rollout in progress: candidate, mode, share, id

- ``canary``: ``visionops serve`` answers ``share`` of the model's production requests
  from the candidate.
- ``shadow``: production answers every request; the candidate is asked too, for
  ``share`` of them, off the request's path, and its answers are only compared and
  logged.

Starting a rollout points the ``candidate`` label at the version (so every server
loads it: the version policy serves labelled versions), writes the state file, and logs
a ``rollout_started`` event. A rollout ends in one of three ways, each an event, each
removing the state file and the ``candidate`` label: a server rolls it back when a
guard is breached (``rollout_rolled_back``, naming the guard, the measured value and
the limit), the production label moves (``rollout_promoted`` when it moved to the
candidate, else ``rollout_ended``; see :func:`finish_rollout`), or someone stops it
(``rollout_ended``). Each step happens under the registry lock, as label moves do.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from visionops.errors import RegistryError
from visionops.files import atomic_write_text, locked
from visionops.registry.events import append_event, default_actor
from visionops.registry.layout import (
    CANDIDATE,
    LABELS_LOCK,
    PRODUCTION,
    SAVED_MODEL_FILE,
    list_versions,
    model_dir,
    read_labels,
    version_dir,
    write_models_config,
)

logger = logging.getLogger(__name__)

ROLLOUT_FILE = "rollout.json"
CANARY, SHADOW = "canary", "shadow"
MODES = (CANARY, SHADOW)
ROLLOUT_STARTED = "rollout_started"
ROLLOUT_ROLLED_BACK = "rollout_rolled_back"
ROLLOUT_PROMOTED = "rollout_promoted"
ROLLOUT_ENDED = "rollout_ended"
_SHARE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*")


@dataclass(frozen=True)
class Rollout:
    """A rollout in progress, as its state file holds it.

    Attributes:
        id: Names this rollout in its events and in the servers' metrics.
        model: The model rolled out.
        candidate: The version tried.
        production: The production version when it started.
        mode: ``canary`` or ``shadow``.
        share: Share of production requests the candidate answers (canary) or is asked
            too (shadow), above 0 and at most 1.
        started_at: When it started (ISO-8601 UTC).
        started_by: Who started it.
    """

    id: str
    model: str
    candidate: int
    production: int
    mode: str
    share: float
    started_at: str
    started_by: str

    def describe(self) -> str:
        """E.g. ``canary of digits:3 on 10% of production (v2) requests``."""
        return (
            f"{self.mode} of {self.model}:{self.candidate} on {self.share:.4g} of "
            f"production (v{self.production}) requests"
        )


def rollout_path(root: Path, model: str) -> Path:
    """The state file of ``model``'s rollout in progress."""
    return model_dir(root, model) / ROLLOUT_FILE


def parse_share(text: str) -> float:
    """A share written ``10%`` or ``0.1``, as a fraction above 0 and at most 1.

    Raises:
        RegistryError: ``text`` is neither, or is out of range.
    """
    match = _SHARE.fullmatch(text)
    value = None
    if match is not None:
        value = float(match.group(1)) / (100 if match.group(2) else 1)
    if value is None or not 0 < value <= 1:
        raise RegistryError(
            f"share {text!r} is not a share of requests: give a percentage above 0 and at "
            "most 100 (e.g. 10%) or a fraction above 0 and at most 1 (e.g. 0.1)"
        )
    return value


def read_rollout(root: Path, model: str) -> Rollout | None:
    """The rollout in progress for ``model``; None when there is none.

    Raises:
        RegistryError: The state file is not a rollout.
    """
    path = rollout_path(root, model)
    try:
        document = json.loads(path.read_text())
        return Rollout(**document)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as error:
        raise RegistryError(
            f"{path} is not a rollout ({error}); stop it with 'visionops models rollout "
            f"{model} --stop --reason TEXT', which removes the file"
        ) from error


def start_rollout(
    root: Path,
    model: str,
    version: int,
    mode: str,
    share: float = 1.0,
    *,
    reason: str,
    actor: str | None = None,
) -> Rollout:
    """Starts a canary or shadow rollout of ``version``; logs ``rollout_started``.

    Args:
        root: The registry's root folder.
        model: The model's name.
        version: The candidate; a SavedModel other than the production version.
        mode: ``canary`` or ``shadow``.
        share: Share of production requests it takes part in, above 0, at most 1.
        reason: Why, for the audit log; required.
        actor: Who; :func:`~visionops.registry.events.default_actor` when not given.

    Raises:
        RegistryError: The mode, share, version or reason is not valid, the model has no
            production version, or a rollout is in progress already.
    """
    if mode not in MODES:
        raise RegistryError(f"rollout mode {mode!r} is not one of {', '.join(MODES)}")
    if not 0 < share <= 1:
        raise RegistryError(f"rollout share {share!r} must be above 0 and at most 1")
    if not reason.strip():
        raise RegistryError("a reason is required: say why, for the audit log (--reason TEXT)")
    if not (version_dir(root, model, version) / SAVED_MODEL_FILE).is_file():
        versions = ", ".join(map(str, list_versions(root, model))) or "none"
        raise RegistryError(
            f"{model}:{version} is not a SavedModel in {root} (versions: {versions}); roll "
            "out a registered version"
        )
    actor = actor or default_actor()
    with locked(root / LABELS_LOCK):
        current = read_rollout(root, model)
        if current is not None:
            raise RegistryError(
                f"a rollout is in progress already: {current.describe()} (id {current.id}); "
                f"promote it (visionops models promote {model}:{current.candidate}) or stop "
                f"it (visionops models rollout {model} --stop --reason TEXT) first"
            )
        labels = read_labels(root)
        model_labels = labels.setdefault(model, {})
        production = model_labels.get(PRODUCTION)
        if production is None:
            raise RegistryError(
                f"{model!r} has no production version to roll out beside; promote one first "
                f"(visionops models promote {model}:VERSION --reason TEXT)"
            )
        if production == version:
            raise RegistryError(
                f"{model}:{version} is production already; roll out another version"
            )
        rollout = Rollout(
            id=uuid.uuid4().hex[:16],
            model=model,
            candidate=version,
            production=production,
            mode=mode,
            share=share,
            started_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            started_by=actor,
        )
        previous = model_labels.get(CANDIDATE)
        model_labels[CANDIDATE] = version
        write_models_config(root, labels)
        atomic_write_text(
            rollout_path(root, model), json.dumps(asdict(rollout), indent=2, sort_keys=True)
        )
        append_event(
            root,
            model,
            ROLLOUT_STARTED,
            version=version,
            labels=model_labels,
            reason=reason,
            details={
                **_details(rollout),
                "label": CANDIDATE,
                "from": previous,
                "to": version,
            },
            actor=actor,
        )
    logger.info("Started the %s", rollout.describe())
    return rollout


def roll_back_rollout(
    root: Path,
    model: str,
    rollout_id: str,
    *,
    guard: str,
    measured: float,
    limit: float,
    requests: int,
    actor: str | None = None,
) -> dict[str, Any] | None:
    """Ends rollout ``rollout_id`` for a breached guard; logs ``rollout_rolled_back``.

    What a server calls when the candidate breaches a guard. Several servers may judge
    the same rollout: the first one ends it, and later calls find it over.

    Args:
        root: The registry's root folder.
        model: The model's name.
        rollout_id: The rollout the server judged.
        guard: The guard breached, e.g. ``error_rate``.
        measured: Its value over the candidate's requests.
        limit: Its limit in the guards' settings.
        requests: How many requests it was measured over.
        actor: Who; :func:`~visionops.registry.events.default_actor` when not given.

    Returns:
        The event logged; None when that rollout is no longer in progress.
    """
    reason = (
        f"guard {guard} breached: measured {measured:.6g} over {requests} requests, "
        f"limit {limit:.6g}"
    )
    extra = {"guard": guard, "measured": measured, "limit": limit, "requests": requests}
    return _end(root, model, rollout_id, ROLLOUT_ROLLED_BACK, reason, extra, actor)


def stop_rollout(root: Path, model: str, reason: str, actor: str | None = None) -> dict[str, Any]:
    """Stops the rollout in progress by hand; logs ``rollout_ended``.

    Raises:
        RegistryError: No rollout is in progress, or the reason is empty.
    """
    if not reason.strip():
        raise RegistryError("a reason is required: say why, for the audit log (--reason TEXT)")
    current = read_rollout(root, model)
    event = _end(root, model, current.id, ROLLOUT_ENDED, reason, {}, actor) if current else None
    if event is None:
        raise RegistryError(f"{model!r} has no rollout in progress; there is nothing to stop")
    return event


def finish_rollout(root: Path, model: str, actor: str | None = None) -> dict[str, Any] | None:
    """Ends ``model``'s rollout once its production label has moved; what promotion calls.

    Logs ``rollout_promoted`` when production now points at the candidate, else
    ``rollout_ended`` (production moved to another version, so the comparison no longer
    holds). Does nothing while production still points where it did at the start.

    Returns:
        The event logged; None when nothing was in progress or production has not moved.
    """
    current = read_rollout(root, model)
    if current is None:
        return None
    production = read_labels(root).get(model, {}).get(PRODUCTION)
    if production == current.production:
        return None
    if production == current.candidate:
        reason = f"production moved to the candidate, version {production}"
        return _end(root, model, current.id, ROLLOUT_PROMOTED, reason, {}, actor)
    reason = f"production moved to version {production}, not to the candidate"
    return _end(root, model, current.id, ROLLOUT_ENDED, reason, {}, actor)


def _details(rollout: Rollout) -> dict[str, Any]:
    return {
        "rollout": rollout.id,
        "mode": rollout.mode,
        "share": rollout.share,
        "candidate": rollout.candidate,
        "production": rollout.production,
    }


def _end(
    root: Path,
    model: str,
    rollout_id: str,
    event: str,
    reason: str,
    extra: dict[str, Any],
    actor: str | None,
) -> dict[str, Any] | None:
    """Removes the state file and the candidate label of rollout ``rollout_id``, and logs
    ``event``; None when that rollout is not the one in progress."""
    with locked(root / LABELS_LOCK):
        try:
            current = read_rollout(root, model)
        except RegistryError as error:
            logger.error("%s", error)
            return None
        if current is None or current.id != rollout_id:
            return None
        labels = read_labels(root)
        model_labels = labels.setdefault(model, {})
        if model_labels.get(CANDIDATE) == current.candidate:
            del model_labels[CANDIDATE]
            write_models_config(root, labels)
        rollout_path(root, model).unlink()
        logged = append_event(
            root,
            model,
            event,
            version=current.candidate,
            labels=model_labels,
            reason=reason,
            details={**_details(current), **extra},
            actor=actor,
        )
    logger.info("%s: %s (%s)", event, current.describe(), reason)
    return logged
