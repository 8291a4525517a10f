"""The schedule's run log: one JSON line per check, decision and run, echoed to stderr.

Every line has the same keys::

    {"time": "2025-03-02T03:00:00.120+00:00", "pid": 4242,
     "tick": "2025-03-02T03:00:00+00:00", "kind": "check", "trigger": "new_data",
     "decision": "retrain", "reason": "new data: /srv/project/data/01_raw/pets changed
     since the last successful retrain (+12 file(s), now 132)",
     "details": {"current": {"digest": ..., "files": 132, ...}, "last": {...}}}

``kind`` is ``check`` (one trigger's verdict), ``decision`` (the tick's verdict),
``run`` (a retrain's outcome, or why it was skipped) or ``scheduler`` (started,
stopping, stopped). ``decision`` is ``retrain``, ``skip`` or null (scheduler lines).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger("visionops.schedule")

CHECK = "check"
DECISION = "decision"
RUN = "run"
SCHEDULER = "scheduler"


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def configure_stderr_logging(level: int = logging.INFO) -> None:
    """Prints the schedule's log lines on stderr, once, whatever else configured logging."""
    if any(getattr(handler, "_visionops_schedule", False) for handler in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    handler._visionops_schedule = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


class RunLog:
    """Appends records to a JSONL file and logs each one on stderr."""

    def __init__(self, path: Path) -> None:
        """Creates the log; the file and its folder are created at the first record."""
        self.path = Path(path)

    def record(
        self,
        kind: str,
        trigger: str | None,
        decision: str | None,
        reason: str,
        details: dict[str, Any] | None = None,
        tick: datetime | None = None,
    ) -> dict[str, Any]:
        """Writes one line (a single append, so concurrent schedulers never interleave
        within a line) and logs it. Returns the record."""
        entry = {
            "time": now().isoformat(timespec="milliseconds"),
            "pid": os.getpid(),
            "tick": tick.isoformat(timespec="seconds") if tick else None,
            "kind": kind,
            "trigger": trigger,
            "decision": decision,
            "reason": reason,
            "details": details or {},
        }
        line = json.dumps(entry, sort_keys=False, default=str) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(handle, line.encode())
        finally:
            os.close(handle)
        label = f"[{trigger}] " if trigger else ""
        verdict = f"{decision}: " if decision else ""
        logger.info("%s %s%s%s", kind, label, verdict, reason)
        return entry


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every record of a run log, oldest first; ``[]`` when it does not exist."""
    if not Path(path).is_file():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
