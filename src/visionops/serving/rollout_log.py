"""The rollout comparison log: each request both arms answered, as one JSON line.

``<prediction log folder>/rollouts/<model>/<rollout id>.jsonl`` gets one line per
comparison (shadow, and the canary requests production answers too): the request id,
which arm the client got, each arm's version and predicted classes and confidences,
whether they agree, the candidate's time, and its error if it failed. The server only
appends to a bounded deque; a writer thread appends the lines to the files every
``FLUSH_SECONDS``, so a request never waits on the disk. Past ``MAX_QUEUED`` lines
waiting, new ones are dropped and counted.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
MAX_QUEUED = 20000


class ComparisonLog:
    """Appends comparison records to one JSON-lines file per rollout, from a thread.

    Args:
        folder: Where the ``<model>/<rollout id>.jsonl`` files go.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.dropped = 0
        self.written = 0
        self._queue: deque[tuple[str, str, dict[str, Any]]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def path(self, model: str, rollout_id: str) -> Path:
        """The file of one rollout's comparisons."""
        return self.folder / model / f"{rollout_id}.jsonl"

    def add(self, model: str, rollout_id: str, record: dict[str, Any]) -> None:
        """Queues one record; never waits (dropped, and counted, when the queue is full)."""
        if len(self._queue) >= MAX_QUEUED:
            self.dropped += 1
            return
        self._queue.append((model, rollout_id, record))

    def start(self) -> None:
        """Starts the writer thread."""
        self._thread = threading.Thread(target=self._run, name="rollout-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

    def flush(self) -> None:
        """Writes every queued record."""
        lines: dict[tuple[str, str], list[bytes]] = {}
        while self._queue:
            model, rollout_id, record = self._queue.popleft()
            lines.setdefault((model, rollout_id), []).append(orjson.dumps(record) + b"\n")
        for (model, rollout_id), chunk in lines.items():
            path = self.path(model, rollout_id)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("ab") as stream:
                    stream.write(b"".join(chunk))
                self.written += len(chunk)
            except OSError as error:
                self.dropped += len(chunk)
                logger.error("Could not write rollout comparisons to %s: %s", path, error)

    def close(self) -> None:
        """Stops the writer and writes what is still queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.flush()
