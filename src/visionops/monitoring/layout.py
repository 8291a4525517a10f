"""Where the production loop keeps what it records, under one folder DVC can track.

::

    <folder>/predictions/<model>/<YYYY-MM-DD>/<start>-<run>-<first seq>.parquet
                                         one closed segment: one row per predicted image
    <folder>/predictions/<model>/<YYYY-MM-DD>/.tmp-*   a segment being written (never read)
    <folder>/feedback/<model>/labels.jsonl  feedback labels, one JSON object a line
    <folder>/feedback/<model>/.labels.lock  held while labels.jsonl is written
    <folder>/events.jsonl                   hash-chained log of exports and purges

``<folder>`` is ``prediction_log.folder`` of conf/base/monitoring.yml,
``data/09_production`` by default; ``dvc add data/09_production`` versions it, and
``dvc push`` sends it to the project's remote.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from visionops.files import atomic_write_bytes

PREDICTIONS = "predictions"
FEEDBACK = "feedback"
LABELS_FILE = "labels.jsonl"
LABELS_LOCK = ".labels.lock"  # beside labels.jsonl: held by its writers and by purges
EVENTS_FILE = "events.jsonl"
SEGMENT_SUFFIX = ".parquet"
TEMP_PREFIX = ".tmp-"


def predictions_dir(folder: Path, model: str) -> Path:
    """The segments of one model, in one sub-folder per UTC day."""
    return Path(folder) / PREDICTIONS / model


def segment_path(folder: Path, model: str, start: float, run: str, first_seq: int) -> Path:
    """Where the segment whose first record is from ``start`` (epoch seconds) goes."""
    moment = datetime.fromtimestamp(start, UTC)
    stamp = moment.strftime("%Y%m%dT%H%M%S") + f"{moment.microsecond // 1000:03d}Z"
    day = moment.strftime("%Y-%m-%d")
    return predictions_dir(folder, model) / day / f"{stamp}-{run}-{first_seq:09d}{SEGMENT_SUFFIX}"


def segment_start(path: Path) -> datetime:
    """The time of a segment's first record, from its name."""
    return datetime.strptime(path.name[:18], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)


def list_segments(folder: Path, model: str | None = None) -> list[Path]:
    """Closed segments (of one model, or of all), oldest first; files being written are not."""
    root = Path(folder) / PREDICTIONS
    models = [model] if model is not None else sorted(p.name for p in root.glob("*") if p.is_dir())
    found = []
    for name in models:
        found += [
            path
            for path in (root / name).glob(f"*/*{SEGMENT_SUFFIX}")
            if not path.name.startswith(TEMP_PREFIX)
        ]
    return sorted(found, key=lambda path: path.name)


def labels_path(folder: Path, model: str) -> Path:
    """The feedback labels of one model."""
    return Path(folder) / FEEDBACK / model / LABELS_FILE


def events_path(folder: Path) -> Path:
    """The production folder's event log."""
    return Path(folder) / EVENTS_FILE


def write_atomic(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` whole or not at all; a killed writer's leftover starts
    with :data:`TEMP_PREFIX`, so readers skip it and ``feedback purge`` removes it."""
    atomic_write_bytes(path, data, prefix=f"{TEMP_PREFIX}{path.name}.")
