"""The prediction log's writer: rows as sent, segments whole, drops counted, kill -9 safe."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from visionops.monitoring.layout import TEMP_PREFIX, list_segments
from visionops.monitoring.recorder import QUEUE_FULL, SIZE_CAP, PredictionRecorder
from visionops.monitoring.records import COLUMNS, counts_array, read_segments

from .conftest import log_settings, png, prediction, record_all


def test_each_image_becomes_one_row_with_what_the_issue_asks_for(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    images, _ = digits
    request = prediction(images[:3], ["0", "1", "7"], confidence=0.8)
    record_all(tmp_path, [request])
    (segment,) = list_segments(tmp_path, "digits")
    rows = read_segments([segment], COLUMNS).to_pylist()
    assert [row["instance"] for row in rows] == [0, 1, 2]
    assert {row["request_id"] for row in rows} == {request.request_id}
    assert [row["predicted"] for row in rows] == ["0", "1", "7"]
    assert rows[0]["confidence"] == np.float32(0.8)
    assert (rows[0]["version"], rows[0]["label"], rows[0]["model"]) == (1, "production", "digits")
    assert rows[1]["sha256"] == hashlib.sha256(png(images[1])).hexdigest()
    assert rows[2]["image"] == png(images[2])
    assert (rows[0]["height"], rows[0]["width"], rows[0]["channels"]) == (8, 8, 1)
    counts = counts_array(rows[0]["value_counts"])
    assert counts.shape == (1, 256) and counts.sum() == 64
    assert np.array_equal(counts[0], np.bincount(images[0].ravel(), minlength=256))


def test_images_are_left_out_when_capture_is_off(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    record_all(tmp_path, [prediction(digits[0][:2], ["0", "1"])], capture_images=False)
    rows = read_segments(list_segments(tmp_path, "digits"), ("image", "sha256")).to_pylist()
    assert [row["image"] for row in rows] == [None, None] and all(r["sha256"] for r in rows)


def test_segments_rotate_at_their_record_bound(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    requests = [prediction(digits[0][i : i + 2], ["0", "1"]) for i in range(0, 40, 2)]
    recorder = record_all(tmp_path, requests, segment_records=10)
    segments = list_segments(tmp_path, "digits")
    assert len(segments) == 4 and recorder.rows_written == 40
    sequence = read_segments(segments, ("seq",)).column("seq").to_pylist()
    assert sequence == list(range(40))


def test_a_full_queue_and_the_size_cap_drop_records_and_count_them(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    request = prediction(digits[0][:3], ["0", "1", "2"])
    recorder = PredictionRecorder(log_settings(tmp_path, queue_size=1))  # writer not started
    assert recorder.offer(request) and not recorder.offer(request)
    assert recorder.dropped[QUEUE_FULL] == 1
    capped = PredictionRecorder(log_settings(tmp_path, max_log_bytes=1))
    capped.stored_bytes = 1
    assert not capped.offer(request) and capped.dropped[SIZE_CAP] == 1


def test_offering_never_waits_for_the_writer(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    request = prediction(digits[0][:1], ["0"])
    recorder = PredictionRecorder(log_settings(tmp_path, queue_size=100))
    started = time.perf_counter()
    for _ in range(5000):
        recorder.offer(request)
    assert (time.perf_counter() - started) / 5000 < 0.0005
    assert recorder.dropped[QUEUE_FULL] == 4900


def test_the_sample_rate_records_a_share_of_requests(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    recorder = PredictionRecorder(log_settings(tmp_path, sample_rate=0.25))
    request = prediction(digits[0][:1], ["0"])
    kept = sum(recorder.offer(request) for _ in range(2000))
    assert 400 < kept < 600 and recorder.sampled_out == 2000 - kept


WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from monitoring.conftest import log_settings, prediction
    from visionops.monitoring.recorder import PredictionRecorder
    from visionops.sources.digits import read_digits
    images = read_digits().images
    recorder = PredictionRecorder(log_settings({folder!r}, segment_records=64))
    recorder.start()
    offered = 0
    while True:
        if recorder.offer(prediction(images[offered % 1000 : offered % 1000 + 4], ["1"] * 4)):
            offered += 4
        if offered % 400 == 0:
            print(offered, recorder.rows_written, flush=True)
        time.sleep(0.0005)
    """
)


def test_kill_9_while_logging_loses_at_most_the_open_segment(tmp_path: Path) -> None:
    script = WRITER.format(tests=str(Path(__file__).parents[1]), folder=str(tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    try:
        offered = written = 0
        while written < 1000:  # let it close a dozen segments first
            line = process.stdout.readline()
            assert line, "the writer process died"
            offered, written = map(int, line.split())
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
        process.stdout.close()
    segments = list_segments(tmp_path, "digits")
    rows = sum(pq.read_table(path).num_rows for path in segments)  # each reads back whole
    assert rows >= written and rows % 4 == 0
    lost = offered - rows
    assert 0 <= lost <= 64 + 4 * 400, (offered, rows)  # the open segment and the queue
    sequence = read_segments(segments, ("seq",)).column("seq").to_pylist()
    assert sequence == list(range(rows))  # no gap: nothing lost but the tail
    assert not [p for p in tmp_path.rglob(f"{TEMP_PREFIX}*") if p in segments]


def test_the_open_segment_answers_for_its_requests(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    request = prediction(digits[0][:2], ["4", "9"])
    recorder = PredictionRecorder(log_settings(tmp_path))
    recorder.start()
    recorder.offer(prediction(digits[0][:1], ["0"]))
    recorder.offer(request)
    recorder.wait_written()
    found = recorder.lookup(request.request_id, "digits")
    recorder.close()
    assert found is not None
    assert (found.model, found.version, found.predicted) == ("digits", 1, ("4", "9"))
    assert found.time == request.time
    assert recorder.lookup(request.request_id, "another") is None
    assert recorder.lookup("unknown", "digits") is None
