"""The prediction log's writer: a bounded queue, one thread, closed segments written whole.

The server hands each answered predict request to :meth:`PredictionRecorder.offer`,
which only samples it and puts it on a bounded queue: it never waits. When the queue
is full, or the stored log has reached its size cap, the record is dropped and counted
(``dropped``, shown in ``/metrics``). The writer thread turns records into rows
(hashing, decoding for the pixel value counts, encoding uint8 inputs as PNG) off the
request path, and keeps them in the open segment, in memory, until it holds
``segment_records`` rows or its first row is ``segment_seconds`` old; the segment is
then written as a Parquet file through a temporary file, fsync and rename. A ``kill -9``
thus loses at most the open segment (and the queue), and never leaves a closed segment
half-written; a clean stop writes the open segment first.

The writer also keeps, for the feedback endpoint, the predicted classes of the most
recent requests by request id, and, for the server's gauges, the live counts of the
last ``window_s`` seconds.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

from visionops.monitoring.figures import LiveCounts
from visionops.monitoring.layout import list_segments, segment_path
from visionops.monitoring.records import COLUMNS, Prediction, counts_array, rows, write_segment
from visionops.monitoring.settings import LogSettings

logger = logging.getLogger(__name__)

QUEUE_FULL, SIZE_CAP, WRITE_ERROR = "queue_full", "size_cap", "write_error"
RECENT_REQUESTS = 200_000
BUCKET_SECONDS = 60.0
BATCH = 256
SIZE_RESCAN_SECONDS = 30.0
_STOP = object()


@dataclass(frozen=True)
class Logged:
    """What the log holds of one request: who answered it and what it predicted."""

    model: str
    version: int
    predicted: tuple[str, ...]
    time: float


class PredictionRecorder:
    """Records predictions into segments under ``settings.folder``; see the module doc.

    Args:
        settings: The prediction log's settings.
        window_s: How far back the live counts for the gauges reach.
    """

    def __init__(self, settings: LogSettings, window_s: float = 3600.0) -> None:
        self.settings = settings
        self.window_s = window_s
        self.run = uuid.uuid4().hex[:8]
        self.dropped: Counter = Counter()
        self.sampled_out = 0
        self.rows_written = 0
        self.segments_written = 0
        self.stored_bytes = 0
        self._queue: queue.Queue = queue.Queue(settings.queue_size)
        self._seq = 0
        self._open: dict[str, dict[str, list]] = {}
        self._opened_at: dict[str, float] = {}
        self._recent: OrderedDict[str, Logged] = OrderedDict()
        self._windows: dict[str, deque[tuple[float, LiveCounts]]] = {}
        self._lock = threading.Lock()
        self._processed = threading.Condition(self._lock)
        self._offered = 0
        self._handled = 0
        self._thread: threading.Thread | None = None
        self._last_rescan = 0.0

    def start(self) -> None:
        """Starts the writer thread."""
        self.stored_bytes = self._scan_size()
        self._last_rescan = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def offer(self, prediction: Prediction) -> bool:
        """Queues one answered request, sampled; never blocks. False if it is dropped."""
        rate = self.settings.sample_rate
        if rate < 1.0 and random.random() >= rate:
            self.sampled_out += 1
            return False
        if self.settings.max_log_bytes and self.stored_bytes >= self.settings.max_log_bytes:
            self.dropped[SIZE_CAP] += prediction.size
            return False
        try:
            self._queue.put_nowait(prediction)
        except queue.Full:
            self.dropped[QUEUE_FULL] += prediction.size
            return False
        self._offered += 1
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Writes what is queued and the open segments, then stops the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def wait_written(self, timeout: float = 2.0) -> None:
        """Waits until the writer has handled what was offered so far (or ``timeout``)."""
        target = self._offered
        with self._processed:
            self._processed.wait_for(lambda: self._handled >= target, timeout)

    def lookup(self, request_id: str) -> Logged | None:
        """What this server logged of ``request_id`` recently; None if it holds nothing."""
        with self._lock:
            return self._recent.get(request_id)

    def window(self, model: str) -> LiveCounts:
        """The live counts of ``model`` over the last ``window_s`` seconds."""
        total = LiveCounts()
        horizon = time.time() - self.window_s
        with self._lock:
            for start, counts in self._windows.get(model, ()):
                if start + BUCKET_SECONDS >= horizon:
                    total.merge(counts)
        return total

    def add_label(self, model: str, actual: str, predicted: str) -> None:
        """Counts a feedback label in the live counts (for the accuracy gauge)."""
        with self._lock:
            self._bucket(model, time.time()).add_label(actual, predicted)

    def _bucket(self, model: str, moment: float) -> LiveCounts:
        buckets = self._windows.setdefault(model, deque())
        start = moment - moment % BUCKET_SECONDS
        if not buckets or buckets[-1][0] < start:
            buckets.append((start, LiveCounts()))
        while buckets and buckets[0][0] + BUCKET_SECONDS < moment - self.window_s:
            buckets.popleft()
        return buckets[-1][1]

    def _scan_size(self) -> int:
        return sum(path.stat().st_size for path in list_segments(self.settings.folder))

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = []
            try:
                batch.append(self._queue.get(timeout=self._wait_seconds()))
                while len(batch) < BATCH:
                    batch.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            for item in batch:
                if item is _STOP:
                    stopping = True
                else:
                    self._add(item)
            with self._processed:
                self._handled += sum(1 for item in batch if item is not _STOP)
                self._processed.notify_all()
            self._close_due(force=stopping)
            if time.monotonic() - self._last_rescan > SIZE_RESCAN_SECONDS:
                self.stored_bytes = self._scan_size()  # purges shrink it
                self._last_rescan = time.monotonic()

    def _wait_seconds(self) -> float:
        if not self._opened_at:
            return 1.0
        oldest = min(self._opened_at.values())
        return max(0.01, oldest + self.settings.segment_seconds - time.time())

    def _add(self, prediction: Prediction) -> None:
        try:
            columns = rows(prediction, self._seq, self.run, self.settings.capture_images)
        except Exception:  # a record must never take the writer down
            logger.exception("Could not record request %s", prediction.request_id)
            self.dropped[WRITE_ERROR] += prediction.size
            return
        self._seq += prediction.size
        segment = self._open.get(prediction.model)
        if segment is None:
            segment = self._open[prediction.model] = {name: [] for name in COLUMNS}
            self._opened_at[prediction.model] = prediction.time
        for name in COLUMNS:
            segment[name] += columns[name]
        if len(segment["seq"]) >= self.settings.segment_records:
            self._write(prediction.model, segment)
            del self._open[prediction.model], self._opened_at[prediction.model]
        logged = Logged(
            prediction.model, prediction.version, tuple(columns["predicted"]), prediction.time
        )
        with self._lock:
            self._recent[prediction.request_id] = logged
            if len(self._recent) > RECENT_REQUESTS:
                self._recent.popitem(last=False)
            counts = self._bucket(prediction.model, prediction.time)
            for index in range(prediction.size):
                counts.add_image(
                    columns["predicted"][index],
                    columns["confidence"][index],
                    (columns["height"][index], columns["width"][index], columns["channels"][index]),
                    counts_array(columns["value_counts"][index]),
                )

    def _close_due(self, force: bool) -> None:
        """Writes the segments whose first row is ``segment_seconds`` old (all: ``force``)."""
        now = time.time()
        for model in list(self._open):
            segment = self._open[model]
            if force or now - self._opened_at[model] >= self.settings.segment_seconds:
                self._write(model, segment)
                del self._open[model], self._opened_at[model]

    def _write(self, model: str, segment: dict[str, list]) -> None:
        path = segment_path(
            self.settings.folder, model, segment["time"][0], self.run, segment["seq"][0]
        )
        try:
            written = write_segment(Path(path), segment)
        except OSError:
            logger.exception("Could not write prediction segment %s", path)
            self.dropped[WRITE_ERROR] += len(segment["seq"])
            return
        self.stored_bytes += written
        self.rows_written += len(segment["seq"])
        self.segments_written += 1
