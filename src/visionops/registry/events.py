"""Each model's audit log: ``<root>/<model>/events.jsonl``, append-only and hash-chained.

Every line is one event written as canonical JSON (sorted keys, no spaces, UTF-8)::

    {"actor": "alice@build-7", "details": {"from": 2, "label": "production", "to": 3},
     "event": "promoted", "hash": "9f2c...", "labels": {"production": 3},
     "model": "digits", "prev": "41d0...", "reason": "beats v2 on the March data",
     "seq": 4, "time": "2025-03-02T10:15:00.120+00:00", "version": 3}

``labels`` are the model's labels after the event. ``hash`` is the sha256 of the event's
canonical JSON without ``hash``; ``prev`` is the sha256 of the previous line's exact
bytes (without its newline), 64 zeros on the first line; ``seq`` counts from 1. Editing,
removing or inserting a line therefore breaks the chain at that line, and
:func:`verify_chain` says where. A chain cannot show that lines were cut off its end:
keep the last ``hash`` somewhere else if that matters.

An event is committed once its line, newline included, is on disk. A line without its
newline was left by a writer that died mid-write; readers skip it and the next append
removes it.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from visionops.errors import RegistryError
from visionops.files import fsync_dir, locked
from visionops.registry.layout import LABELS_LOCK, events_path, read_labels, write_models_config

logger = logging.getLogger(__name__)

REGISTERED = "registered"
PROMOTED = "promoted"
ROLLED_BACK = "rolled_back"
LABEL_MOVED = "label_moved"
APPROVED = "approval"  # a person approved a version for production (registry.approvals)
GENESIS = "0" * 64
ACTOR_VARIABLE = "VISIONOPS_ACTOR"
FIELDS = (
    "seq",
    "time",
    "event",
    "model",
    "version",
    "labels",
    "actor",
    "reason",
    "details",
    "prev",
    "hash",
)
_EVENTS_LOCK = ".events.lock"


def acting_user() -> str:
    """Who is acting, without the host: ``$VISIONOPS_ACTOR``, or else the OS user."""
    who = os.environ.get(ACTOR_VARIABLE, "").strip()
    if who:
        return who
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name, e.g. an arbitrary uid in a container
        return f"uid-{os.getuid()}"


def default_actor() -> str:
    """Who is acting: ``$VISIONOPS_ACTOR`` or the OS user, then ``@`` and the host name."""
    return f"{acting_user()}@{socket.gethostname()}"


def canonical_json(event: Mapping[str, Any]) -> bytes:
    """The one byte string an event is hashed and stored as."""
    return json.dumps(
        event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def event_hash(event: Mapping[str, Any]) -> str:
    """The sha256 of ``event``'s canonical JSON, leaving out its own ``hash``."""
    unhashed = {key: value for key, value in event.items() if key != "hash"}
    return hashlib.sha256(canonical_json(unhashed)).hexdigest()


def append_event(
    root: Path,
    model: str,
    event: str,
    *,
    version: int | None = None,
    labels: Mapping[str, int] | None = None,
    reason: str = "",
    details: Mapping[str, Any] | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Appends one event to ``model``'s log, chained to the line before it.

    Writers on any number of processes take turns under an exclusive lock, and each line
    is flushed and fsynced before the lock is released, so the chain never forks.

    Args:
        root: The registry's root folder.
        model: The model the event is about.
        event: What happened, e.g. :data:`REGISTERED`, :data:`PROMOTED`.
        version: The version it happened to.
        labels: The model's version labels after the event.
        reason: Why, in words.
        details: Anything else worth keeping, e.g. a label's previous version.
        actor: Who did it; :func:`default_actor` when not given.

    Returns:
        The event as written, ``hash`` included.

    Raises:
        RegistryError: The log's last line is not an event we can read.
    """
    path = events_path(root, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.parent / _EVENTS_LOCK), path.open("a+b") as stream:
        last, complete_end, size = _tail(stream)
        if complete_end < size:
            logger.warning(
                "Discarding an incomplete last line of %s, left by a writer that stopped "
                "mid-write: %r",
                path,
                _read_from(stream, complete_end),
            )
            stream.truncate(complete_end)
        seq = 1
        if last:
            try:
                seq = int(json.loads(last)["seq"]) + 1
            except (ValueError, KeyError, TypeError) as error:
                raise RegistryError(
                    f"the last line of {path} is not an event ({error!r}); nothing was "
                    f"appended. Run 'visionops models events {model} --verify' and restore "
                    "the log from a backup"
                ) from error
        record: dict[str, Any] = {
            "seq": seq,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": event,
            "model": model,
            "version": version,
            "labels": dict(labels or {}),
            "actor": actor or default_actor(),
            "reason": reason,
            "details": dict(details or {}),
            "prev": hashlib.sha256(last).hexdigest() if last else GENESIS,
        }
        record["hash"] = event_hash(record)
        stream.write(canonical_json(record) + b"\n")
        stream.flush()
        os.fsync(stream.fileno())
    if seq == 1:
        fsync_dir(path.parent)
    return record


def read_events(root: Path, model: str) -> list[dict[str, Any]]:
    """Every committed event of ``model``, oldest first; ``[]`` when it has no log.

    Raises:
        RegistryError: A line is not a JSON object.
    """
    path = events_path(root, model)
    events = []
    for number, line in enumerate(_complete_lines(path), start=1):
        event, error = _parse(line)
        if event is None:
            raise RegistryError(
                f"line {number} of {path} is not an event ({error}); run "
                f"'visionops models events {model} --verify' to see what else is wrong"
            )
        events.append(event)
    return events


def verify_chain(root: Path, model: str) -> list[str]:
    """Checks every line of ``model``'s log against its hash and the line before it.

    Returns:
        One message per problem, each starting ``line N:`` and saying what is wrong
        (unparseable, missing fields, broken link, seq gap, edited event, incomplete);
        empty when the chain is intact or there is no log yet.
    """
    path = events_path(root, model)
    if not path.is_file():
        return []
    *lines, torn = path.read_bytes().split(b"\n")
    problems = []
    expected_prev, expected_seq = GENESIS, 1
    for number, line in enumerate(lines, start=1):
        event, error = _parse(line)
        if event is None:
            problems.append(f"line {number}: unparseable: {error}")
        else:
            problems += [
                f"line {number}: {problem}"
                for problem in _check(event, expected_prev, expected_seq)
            ]
        seq = event.get("seq") if event else None
        expected_seq = seq + 1 if isinstance(seq, int) else None
        expected_prev = hashlib.sha256(line).hexdigest()
    if torn:
        problems.append(
            f"line {len(lines) + 1}: incomplete (no newline): a writer stopped mid-write; "
            "it is not an event, and the next append removes it"
        )
    return problems


def _parse(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """The event on ``line``, or ``None`` and why it is not one."""
    try:
        event = json.loads(line)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError alike
        return None, str(error)
    if not isinstance(event, dict):
        return None, f"a JSON {type(event).__name__}, not an object"
    return event, ""


def _check(event: dict[str, Any], expected_prev: str, expected_seq: int | None) -> list[str]:
    missing = [key for key in FIELDS if key not in event]
    if missing:
        return [f"missing fields: {', '.join(missing)}"]
    problems = []
    if event["prev"] != expected_prev:
        before = "64 zeros (the first event)" if expected_prev == GENESIS else "the line before"
        problems.append(
            f"broken link: prev does not match the sha256 of {before}; a line was "
            "removed, inserted or changed just before this one"
        )
    if expected_seq is not None and event["seq"] != expected_seq:
        problems.append(f"seq gap: expected seq {expected_seq}, found {event['seq']}")
    computed = event_hash(event)
    if computed != event["hash"]:
        problems.append(
            f"edited event: hash mismatch (stored {str(event['hash'])[:12]}..., computed "
            f"{computed[:12]}...); a field of this event was changed after it was written"
        )
    return problems


def _complete_lines(path: Path) -> list[bytes]:
    if not path.is_file():
        return []
    *lines, _torn = path.read_bytes().split(b"\n")
    return lines


def _tail(stream: BinaryIO) -> tuple[bytes, int, int]:
    """The last complete line, the offset where complete lines end, and the file size."""
    size = stream.seek(0, os.SEEK_END)
    block, position = b"", size
    while position > 0:
        step = min(8192, position)
        position -= step
        stream.seek(position)
        block = stream.read(step) + block
        end = block.rfind(b"\n")
        if end == -1:
            continue
        start = block.rfind(b"\n", 0, end)
        if start != -1 or position == 0:
            return block[start + 1 : end], position + end + 1, size
    return b"", 0, size


def _read_from(stream: BinaryIO, offset: int) -> bytes:
    stream.seek(offset)
    return stream.read()


def record_version(
    root: Path,
    model: str,
    version: int,
    labels: Sequence[str],
    reason: str,
    digest: str,
    actor: str | None = None,
) -> None:
    """Moves ``labels`` to a version already in place and logs its ``registered`` event.

    The last step of ``store.register``, under the registry-wide lock so that
    concurrent registrations neither lose a label move nor fork the audit log.

    Args:
        root: The registry's root folder.
        model: The model's name.
        version: The version, renamed into place already.
        labels: Labels to point at it, e.g. ``("production",)``.
        reason: Why it was registered (the blessing's reason).
        digest: ``layout.content_digest`` of the version's files.
        actor: Who registers it; :func:`default_actor` when None.
    """
    with locked(root / LABELS_LOCK):
        all_labels = read_labels(root)
        model_labels = all_labels.setdefault(model, {})
        moved = {label: {"from": model_labels.get(label), "to": version} for label in labels}
        model_labels.update(dict.fromkeys(labels, version))
        write_models_config(root, all_labels)
        append_event(
            root,
            model,
            REGISTERED,
            version=version,
            labels=model_labels,
            reason=reason,
            details={"labels_moved": moved, "content_sha256": digest},
            actor=actor,
        )
