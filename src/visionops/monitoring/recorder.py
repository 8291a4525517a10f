"""The prediction log's writer: a bounded queue, one thread, closed segments written whole.

The server hands each answered predict request to :meth:`PredictionRecorder.offer`,
which only samples it and appends it to a bounded queue (a deque: no lock, no wake-up
of the writer per request): it never waits. When the queue is full, or the stored log
has reached its size cap, the record is dropped and counted (``dropped``, shown in
``/metrics``). Every ``DRAIN_SECONDS`` the writer thread takes what is queued and turns
it, ``CHUNK`` requests at a time, into rows off the request path (a hash for every
image; size and pixel value counts, which need decoding, for at most
``profile_per_second`` images a second), and keeps them in the open segment, in
memory, until it holds ``segment_records`` rows or its first row is
``segment_seconds`` old; the segment is then written as a Parquet file through a
temporary file, fsync and rename. A ``kill -9`` thus loses at most the open segment,
the queue and the ``CHUNK`` requests being turned into rows, and never leaves a closed
segment half-written; a clean stop writes the open segment first.

The open segment answers the feedback endpoint for requests not yet on disk, and the
writer keeps, for the server's gauges, the live counts of the last ``window_s``
seconds.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionops.monitoring.figures import LiveCounts
from visionops.monitoring.layout import list_segments, segment_path
from visionops.monitoring.records import (
    COLUMNS,
    Prediction,
    batch_columns,
    counts_array,
    write_segment,
)
from visionops.monitoring.settings import LogSettings

logger = logging.getLogger(__name__)

QUEUE_FULL, SIZE_CAP, WRITE_ERROR = "queue_full", "size_cap", "write_error"
BUCKET_SECONDS = 60.0
DRAIN_SECONDS = 0.2
CHUNK = 64
SIZE_RESCAN_SECONDS = 30.0


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
        convert: Turns what the server offers into a :class:`Prediction` (None: not a
            prediction to record), in the writer thread; None when it offers those.
    """

    def __init__(
        self,
        settings: LogSettings,
        window_s: float = 3600.0,
        convert: Callable[[Any], Prediction | None] | None = None,
    ) -> None:
        self.settings = settings
        self._convert = convert
        self.window_s = window_s
        self.run = uuid.uuid4().hex[:8]
        self.dropped: Counter = Counter()
        self.sampled_out = 0
        self.rows_written = 0
        self.segments_written = 0
        self.stored_bytes = 0
        self.writer_cpu_seconds = 0.0
        self._queue: deque[Prediction] = deque()
        self._stop = threading.Event()
        self._seq = 0
        self._open: dict[str, dict[str, list]] = {}
        self._opened_at: dict[str, float] = {}
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

    def offer(self, item: Any) -> bool:
        """Queues one answered request, sampled; never blocks. False if it is dropped.

        ``item`` is a :class:`Prediction`, or what ``convert`` (given to the recorder)
        turns into one in the writer thread, so that the server's side costs a tuple.
        """
        rate = self.settings.sample_rate
        if rate < 1.0 and random.random() >= rate:
            self.sampled_out += 1
            return False
        if self.settings.max_log_bytes and self.stored_bytes >= self.settings.max_log_bytes:
            self.dropped[SIZE_CAP] += 1
            return False
        if len(self._queue) >= self.settings.queue_size:
            self.dropped[QUEUE_FULL] += 1
            return False
        self._queue.append(item)
        self._offered += 1
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Writes what is queued and the open segments, then stops the thread."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        self._thread = None

    def wait_written(self, timeout: float = 2.0) -> None:
        """Waits until the writer has handled what was offered so far (or ``timeout``)."""
        target = self._offered
        with self._processed:
            self._processed.wait_for(lambda: self._handled >= target, timeout)

    def lookup(self, request_id: str, model: str) -> Logged | None:
        """What the open segment of ``model`` holds of ``request_id``; None if nothing
        (the closed segments are on disk, see :func:`visionops.monitoring.feedback.scan_log`).
        """
        with self._lock:
            segment = self._open.get(model)
            if segment is None:
                return None
            try:
                first = segment["request_id"].index(request_id)
            except ValueError:
                return None
            end = first
            while end < len(segment["request_id"]) and segment["request_id"][end] == request_id:
                end += 1
            return Logged(
                model,
                segment["version"][first],
                tuple(segment["predicted"][first:end]),
                segment["time"][first],
            )

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
        # A second's worth of profiling to start with, then per_second more each second.
        budget, last = float(self.settings.profile_per_second), time.monotonic()
        while True:
            stopping = self._stop.wait(DRAIN_SECONDS)
            now = time.monotonic()
            per_second = self.settings.profile_per_second
            budget = min(budget + (now - last) * per_second, max(per_second, 1.0))
            last = now
            started = time.thread_time()
            # What is queued now, CHUNK requests at a time, each taken off the queue only
            # when it is worked on: a kill loses at most the queue, one chunk and the open
            # segment, and a queue that fills meanwhile drops (and counts) what it cannot take.
            for _ in range(0, len(self._queue), CHUNK):
                chunk = [self._queue.popleft() for _ in range(min(CHUNK, len(self._queue)))]
                budget -= self._add(chunk, int(budget))
                with self._processed:
                    self._handled += len(chunk)
                    self._processed.notify_all()
                # Hands the interpreter back to the event loop now rather than when it
                # next asks for it (up to sys.getswitchinterval(), 5 ms, of stalled requests).
                time.sleep(0)
            self._close_due(force=stopping and not self._queue)
            if stopping and not self._queue:
                return
            if time.monotonic() - self._last_rescan > SIZE_RESCAN_SECONDS:
                self.stored_bytes = self._scan_size()  # purges shrink it
                self._last_rescan = time.monotonic()
            self.writer_cpu_seconds += time.thread_time() - started

    def _add(self, batch: list[Any], profile: int) -> int:
        """Adds a batch of requests to the open segments; returns how many images it
        profiled."""
        if self._convert is not None:
            converted = []
            for item in batch:
                try:
                    prediction = self._convert(item)
                except Exception:  # a record must never take the writer down
                    logger.exception("Could not record a request")
                    self.dropped[WRITE_ERROR] += 1
                    continue
                if prediction is not None:
                    converted.append(prediction)
            batch = converted
        by_model: dict[str, list[Prediction]] = {}
        for prediction in batch:
            by_model.setdefault(prediction.model, []).append(prediction)
        profiled = 0
        for model, requests in by_model.items():
            try:
                columns = batch_columns(
                    requests, self._seq, self.run, self.settings.capture_images, profile - profiled
                )
            except Exception:  # a record must never take the writer down
                logger.exception("Could not record %d request(s) of %s", len(requests), model)
                self.dropped[WRITE_ERROR] += len(requests)
                continue
            rows = len(columns["seq"])
            profiled += sum(1 for blob in columns["value_counts"] if blob is not None)
            self._seq += rows
            self._count(requests, columns)
            self._append(model, columns, requests[0].time)
        return profiled

    def _count(self, requests: list[Prediction], columns: dict[str, list]) -> None:
        """Adds a batch's rows to the live counts of the gauges."""
        predicted = columns["predicted"]
        batch = LiveCounts(
            images=len(predicted),
            sizes=Counter(
                zip(columns["height"], columns["width"], columns["channels"], strict=True)
            ),
            predicted=Counter(predicted),
            confidence_sum=float(sum(columns["confidence"])),
        )
        for blob in columns["value_counts"]:
            if blob is not None:
                batch.add_counts(counts_array(blob))
        with self._lock:
            self._bucket(requests[0].model, requests[-1].time).merge(batch)

    def _append(self, model: str, columns: dict[str, list], first_time: float) -> None:
        """Adds rows to ``model``'s open segment, closing it each ``segment_records`` rows."""
        offset, total = 0, len(columns["seq"])
        while offset < total:
            segment = self._open.get(model)
            if segment is None:
                with self._lock:
                    segment = self._open[model] = {name: [] for name in COLUMNS}
                    self._opened_at[model] = columns["time"][offset]
            room = self.settings.segment_records - len(segment["seq"])
            with self._lock:  # lookup() reads the open segment
                for name in COLUMNS:
                    segment[name] += columns[name][offset : offset + room]
            offset += room
            if len(segment["seq"]) >= self.settings.segment_records:
                self._write(model, segment)  # on disk before it leaves memory
                with self._lock:
                    del self._open[model], self._opened_at[model]

    def _close_due(self, force: bool) -> None:
        """Writes the segments whose first row is ``segment_seconds`` old (all: ``force``)."""
        now = time.time()
        for model in list(self._open):
            segment = self._open[model]
            if force or now - self._opened_at[model] >= self.settings.segment_seconds:
                self._write(model, segment)  # on disk before it leaves memory
                with self._lock:
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
