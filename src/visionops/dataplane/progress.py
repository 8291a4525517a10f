"""Progress of a long data stage: images done, images/s and time left.

On a terminal one line is redrawn in place; otherwise (CI, a container, a log file) a
line is logged at intervals, so a log shows the stage is alive without a line per image.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

logger = logging.getLogger(__name__)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Reports ``done`` out of ``total`` images for ``stage``.

    Args:
        stage: What is running, e.g. ``ingestion``.
        total: Images to go through.
        stream: Where a terminal line goes (stderr by default).
        interval: Seconds between logged lines when not on a terminal.
        clock: Seconds from any origin (``time.perf_counter`` by default).
    """

    # Seconds between redraws of the terminal line.
    REDRAW_INTERVAL = 0.2

    def __init__(
        self,
        stage: str,
        total: int,
        stream: TextIO | None = None,
        interval: float = 10.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.stage = stage
        self.total = total
        self.stream = stream or sys.stderr
        self.interval = interval
        self.clock = clock
        self.done = 0
        self.started = clock()
        self._last = self.started
        self._terminal = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self) -> str:
        """``<stage>: <done>/<total> images, <rate> images/s, <time> left``."""
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = _duration(left) if left != float("inf") else "?"
        return (
            f"{self.stage}: {self.done:,}/{self.total:,} images, {rate:,.0f} images/s, {eta} left"
        )

    def advance(self, count: int) -> None:
        """Counts ``count`` more images done."""
        self.done += count
        now = self.clock()
        if self._terminal:
            if now - self._last >= self.REDRAW_INTERVAL or self.done >= self.total:
                self.stream.write("\r" + self.line().ljust(72))
                self.stream.flush()
                self._last = now
        elif now - self._last >= self.interval:
            logger.info("%s", self.line())
            self._last = now

    def finish(self) -> float:
        """Ends the report; returns the seconds taken."""
        elapsed = self.clock() - self.started
        if self._terminal:
            self.stream.write("\r" + self.line().ljust(72) + "\n")
            self.stream.flush()
        rate = self.done / elapsed if elapsed > 0 else 0.0
        logger.info("%s: %d images in %.1f s (%.0f images/s)", self.stage, self.done, elapsed, rate)
        return elapsed
