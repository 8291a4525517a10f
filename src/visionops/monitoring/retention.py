"""``visionops feedback purge``: predictions and labels past their retention period go.

A closed segment goes when its newest row is older than the cutoff; a label set when it
was received, or its prediction made, before it. Files a killed server left half-written
(``.tmp-*``) go too. The labels file is rewritten whole (temporary file, fsync, rename)
under the feedback lock. One ``purged`` event records what went: each segment's name,
sha256, rows and time range, and how many label sets, so lineage can still say which
production data a model was trained on and when it was deleted.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from visionops.files import locked
from visionops.monitoring.events import PURGED, record_event
from visionops.monitoring.export import file_sha256
from visionops.monitoring.feedback import read_labels_file
from visionops.monitoring.layout import (
    FEEDBACK,
    LABELS_LOCK,
    PREDICTIONS,
    TEMP_PREFIX,
    list_segments,
    write_atomic,
)
from visionops.monitoring.records import read_segments

STALE_TEMP_SECONDS = 3600.0


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


def _purge_segments(folder: Path, cutoff: float) -> list[dict[str, Any]]:
    removed = []
    for path in list_segments(folder):
        times = read_segments([path], ("time",)).column("time")
        newest = pc.max(times).as_py()
        if newest is not None and newest >= cutoff:
            continue
        removed.append(
            {
                "model": path.parents[1].name,
                "name": path.name,
                "sha256": file_sha256(path),
                "rows": len(times),
                "first": _iso(pc.min(times).as_py() or 0.0),
                "last": _iso(newest or 0.0),
            }
        )
        path.unlink()
    for temporary in (Path(folder) / PREDICTIONS).glob(f"*/*/{TEMP_PREFIX}*"):
        if time.time() - temporary.stat().st_mtime > STALE_TEMP_SECONDS:
            temporary.unlink(missing_ok=True)
    return removed


def _purge_labels(folder: Path, cutoff: float) -> dict[str, int]:
    removed = {}
    for path in sorted((Path(folder) / FEEDBACK).glob("*/labels.jsonl")):
        with locked(path.parent / LABELS_LOCK):
            entries = read_labels_file(path)
            kept = [
                entry
                for entry in entries
                if entry["time"] >= cutoff and entry.get("predicted_at", cutoff) >= cutoff
            ]
            if len(kept) != len(entries):
                text = "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in kept)
                write_atomic(path, text.encode())
                removed[path.parent.name] = len(entries) - len(kept)
    return removed


def purge(folder: Path, cutoff: datetime) -> dict[str, Any]:
    """Removes the predictions and labels older than ``cutoff``; returns what went (the
    ``purged`` event's details)."""
    moment = cutoff.timestamp()
    details = {
        "cutoff": cutoff.isoformat(),
        "segments": _purge_segments(folder, moment),
        "label_sets": _purge_labels(folder, moment),
    }
    details["rows"] = sum(segment["rows"] for segment in details["segments"])
    if details["segments"] or details["label_sets"]:
        record_event(folder, PURGED, details)
    return details
