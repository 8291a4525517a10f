"""The production folder's event log: exports and purges, each line chained to the one before.

``events.jsonl`` is append-only. Each event carries ``seq``, ``time``, ``event``,
``actor``, ``details`` and ``previous``, the sha256 of the line before it (``""`` for the
first), so an edited or deleted line breaks the chain (:func:`verify_events`). Purges
delete predictions and labels; their events keep what was deleted (segment names,
hashes, rows, time ranges) so that what a model was trained on can still be named.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from visionops.files import locked
from visionops.monitoring.layout import events_path
from visionops.registry.events import default_actor

EXPORTED, PURGED = "feedback_exported", "purged"


def _digest(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def read_events(folder: Path) -> list[dict[str, Any]]:
    """The events of the production folder ``folder``, oldest first."""
    path = events_path(folder)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def verify_events(folder: Path) -> list[str]:
    """Where the chain breaks: one line per event whose ``previous`` is not the sha256
    of the line before it; empty when the log is intact."""
    path = events_path(folder)
    if not path.is_file():
        return []
    problems, previous = [], ""
    for number, line in enumerate(path.read_bytes().splitlines(keepends=True), start=1):
        event = json.loads(line)
        if event.get("previous") != previous:
            problems.append(f"{path} line {number}: the line before it was changed or removed")
        previous = _digest(line)
    return problems


def record_event(folder: Path, event: str, details: dict[str, Any]) -> dict[str, Any]:
    """Appends one event (under an exclusive lock, fsynced) and returns it."""
    path = events_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path), path.open("ab+") as stream:
        stream.seek(0)
        lines = stream.read().splitlines(keepends=True)
        entry = {
            "seq": len(lines) + 1,
            "time": datetime.now(UTC).isoformat(),
            "event": event,
            "actor": default_actor(),
            "details": details,
            "previous": _digest(lines[-1]) if lines else "",
        }
        stream.write((json.dumps(entry, sort_keys=True) + "\n").encode())
        stream.flush()
        os.fsync(stream.fileno())
    return entry
