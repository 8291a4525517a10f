"""``visionops serve`` as a user runs it: errors, an empty registry, Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from visionops.registry.layout import version_dir, write_models_config

from .support import MODEL, images, png_request, serve


def test_a_missing_registry_is_one_line_of_error(tmp_path: Path) -> None:
    result = serve("--registry", str(tmp_path / "nowhere"))

    assert result.returncode == 1
    assert "visionops: error: registry folder" in result.stderr
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--max-batch-size", "0", "at least 1"),
        ("--max-body-mb", "0", "above 0"),
        ("--poll-seconds", "-1", "above 0"),
        ("--intra-op-threads", "-1", "0 (TensorFlow's choice) or more"),
        ("--inter-op-threads", "-2", "0 (TensorFlow's choice) or more"),
    ],
)
def test_bad_settings_are_refused_before_starting(
    tmp_path: Path, option: str, value: str, words: str
) -> None:
    result = serve("--registry", str(tmp_path), option, value)

    assert result.returncode == 1
    assert option in result.stderr and words in result.stderr
    assert "Traceback" not in result.stderr


def test_an_empty_registry_is_unhealthy_until_a_version_arrives(
    tmp_path: Path, start_server, saved_versions, reference
) -> None:
    server = start_server(tmp_path, "--poll-seconds", "0.1")
    before = server.get("/healthz")
    shutil.copytree(saved_versions[1], version_dir(tmp_path, MODEL, 1))
    write_models_config(tmp_path, {MODEL: {"production": 1}})
    deadline = time.monotonic() + 30
    while server.get("/healthz").status != 200:
        assert time.monotonic() < deadline, server.log[-3000:]
        time.sleep(0.1)
    batch = images(1, seed=11)

    reply = server.post(f"/v1/models/{MODEL}:predict", png_request(batch))

    assert before.status == 503
    assert before.json() == {"status": "unavailable", "models": {}}
    assert reply.status == 200
    assert reply.json()["predictions"][0]["class_ids"] == int(reference(1, batch)["class_ids"][0])
    assert f"http://127.0.0.1:{server.port}" in server.log


def test_ctrl_c_stops_the_server_cleanly(make_registry, start_server) -> None:
    server = start_server(make_registry((1,), {"production": 1}))

    server.process.send_signal(signal.SIGINT)
    status = server.process.wait(timeout=30)

    assert status == 0
    assert "Stopped by SIGINT" in server.log
    assert "Traceback" not in server.log


def _thread_names(pid: int) -> list[str]:
    """The names of a process's threads, as Linux keeps them."""
    return [(task / "comm").read_text().strip() for task in Path(f"/proc/{pid}/task").iterdir()]


def test_tensorflow_thread_counts_are_applied(make_registry, start_server, reference) -> None:
    """The served process runs TensorFlow with the threads asked for: its own getters
    say so in the log, and its inter-op pool holds that many threads (TensorFlow names
    them tf_Compute; by default there is one per core, so the count asked for is more)."""
    inter_op = (os.cpu_count() or 1) + 1
    server = start_server(
        make_registry((1,), {"production": 1}),
        "--intra-op-threads",
        "1",
        "--inter-op-threads",
        str(inter_op),
    )
    batch = images(3, seed=5)

    reply = server.post(f"/v1/models/{MODEL}:predict", png_request(batch))

    assert reply.status == 200
    expected = reference(1, batch)["class_ids"].tolist()
    assert [row["class_ids"] for row in reply.json()["predictions"]] == expected
    assert f"TensorFlow threads: intra-op 1, inter-op {inter_op}" in server.log
    assert _thread_names(server.process.pid).count("tf_Compute") == inter_op
