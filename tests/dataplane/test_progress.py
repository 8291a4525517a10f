"""Progress of a long stage: a line logged now and then in a log, one line redrawn in
place on a terminal, both saying images done, images/s and time left."""

from __future__ import annotations

import io
import logging

import pytest

from visionops.dataplane.progress import Progress


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_per_interval_not_per_image(caplog: pytest.LogCaptureFixture) -> None:
    clock, stream = Clock(), io.StringIO()
    progress = Progress("ingestion", 1200, stream=stream, interval=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="visionops.dataplane.progress"):
        for _ in range(12):  # 100 images a second, for 12 seconds
            clock.now += 1.0
            progress.advance(100)
        assert progress.finish() == 12.0
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "ingestion: 1,000/1,200 images, 100 images/s, 2s left",
        "ingestion: 1200 images in 12.0 s (100 images/s)",
    ]
    assert stream.getvalue() == ""


def test_a_terminal_gets_one_line_redrawn_in_place(caplog: pytest.LogCaptureFixture) -> None:
    clock, terminal = Clock(), FakeTerminal()
    progress = Progress("ingestion", 6000, stream=terminal, clock=clock)
    with caplog.at_level(logging.INFO, logger="visionops.dataplane.progress"):
        clock.now += 10.0
        progress.advance(500)  # 50 images/s: 110 s for the 5,500 left
        clock.now += 0.1
        progress.advance(10)  # too soon to redraw
        clock.now += 50.0
        progress.advance(2490)
        clock.now += 60.0
        progress.advance(3000)
        progress.finish()
    drawn = terminal.getvalue()
    assert drawn.count("\n") == 1 and drawn.endswith("\n")
    frames = [frame.rstrip() for frame in drawn.rstrip("\n").split("\r")[1:]]
    assert frames == [
        "ingestion: 500/6,000 images, 50 images/s, 1m50s left",
        "ingestion: 3,000/6,000 images, 50 images/s, 1m00s left",
        "ingestion: 6,000/6,000 images, 50 images/s, 0s left",
        "ingestion: 6,000/6,000 images, 50 images/s, 0s left",
    ]
    assert [record.getMessage() for record in caplog.records] == [
        "ingestion: 6000 images in 120.1 s (50 images/s)"
    ]


def test_long_waits_are_told_in_hours_and_minutes() -> None:
    clock = Clock()
    progress = Progress("validation", 1_000_000, stream=io.StringIO(), clock=clock)
    clock.now += 100.0
    progress.advance(10_000)  # 9,900 s for the rest
    assert progress.line() == "validation: 10,000/1,000,000 images, 100 images/s, 2h45m left"
