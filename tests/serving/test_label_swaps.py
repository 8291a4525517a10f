"""Label moves under steady traffic: no request fails, and the answering version switches.

The tests of this module run in order against one server and one registry: promote
version 2, register and promote version 3, then label a broken version 4.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from visionops.registry.layout import model_dir, version_dir, write_models_config

from .support import MODEL, Server, images, png_request

PREDICT = f"/v1/models/{MODEL}:predict"


class Traffic:
    """Sends predict requests back to back from a thread; notes which version answered each."""

    def __init__(self, server: Server, reference: Callable) -> None:
        self.server = server
        self.probe = images(1, seed=42)
        self.fingerprints = {v: reference(v, self.probe)["probabilities"][0] for v in (1, 2, 3)}
        self.answers: list[object] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        document = png_request(self.probe)
        while not self._stop.is_set():
            try:
                reply = self.server.post(PREDICT, document)
            except OSError as error:
                self.answers.append(f"no answer: {error!r}")
                continue
            if reply.status != 200:
                self.answers.append(f"{reply.status}: {reply.body[:300]!r}")
                continue
            got = reply.json()["predictions"][0]["probabilities"]
            matches = [
                v for v, want in self.fingerprints.items() if np.allclose(got, want, atol=1e-5)
            ]
            self.answers.append(matches[0] if len(matches) == 1 else f"unknown answer {got}")

    def wait_for(self, condition: Callable[[list], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition(list(self.answers)):
            assert time.monotonic() < deadline, f"timed out; answers so far: {self.answers[-20:]}"
            time.sleep(0.05)

    def stop(self) -> list[object]:
        self._stop.set()
        self._thread.join(30)
        return self.answers


def swap_under_traffic(
    server: Server, reference: Callable, change: Callable[[], None], new: int
) -> list:
    """Runs ``change`` while requests flow; returns the answers once ``new`` answered 20 times."""
    traffic = Traffic(server, reference)
    try:
        traffic.wait_for(lambda answers: len(answers) >= 20)
        change()
        traffic.wait_for(lambda answers: answers[-20:].count(new) == 20)
    finally:
        answers = traffic.stop()
    return answers


def assert_switched_once(answers: list, old: int, new: int) -> None:
    failures = [answer for answer in answers if not isinstance(answer, int)]
    assert failures == [], f"{len(failures)} of {len(answers)} requests failed"
    first_new = answers.index(new)
    assert set(answers[:first_new]) == {old}
    assert set(answers[first_new:]) == {new}, "the old version answered again after the swap"


def status_of(server: Server) -> dict[str, str]:
    reply = server.get(f"/v1/models/{MODEL}")
    assert reply.status == 200
    return {entry["version"]: entry["state"] for entry in reply.json()["model_version_status"]}


@pytest.fixture(scope="module")
def registry(make_registry) -> Path:
    return make_registry((1, 2), {"production": 1})


@pytest.fixture(scope="module")
def server(registry: Path, start_server) -> Server:
    return start_server(registry, "--poll-seconds", "0.1")


def test_promotion_switches_versions_without_a_failed_request(
    server: Server, registry: Path, reference
) -> None:
    def promote() -> None:
        write_models_config(registry, {MODEL: {"production": 2}})

    answers = swap_under_traffic(server, reference, promote, new=2)

    assert_switched_once(answers, old=1, new=2)
    assert status_of(server) == {"1": "END", "2": "AVAILABLE"}, "version 1 should be unloaded"


def test_a_new_version_is_loaded_and_promoted_without_a_failed_request(
    server: Server, registry: Path, reference, saved_versions
) -> None:
    staging = model_dir(registry, MODEL) / ".staging-test"
    shutil.copytree(saved_versions[3], staging)
    time.sleep(0.5)  # several polls see the half-written version
    assert "3" not in status_of(server), "a .staging-* folder was loaded"

    def register() -> None:  # what registry.store.register does: rename, then relabel
        staging.rename(version_dir(registry, MODEL, 3))
        write_models_config(registry, {MODEL: {"production": 3}})

    answers = swap_under_traffic(server, reference, register, new=3)

    assert_switched_once(answers, old=2, new=3)
    assert status_of(server) == {"1": "END", "2": "END", "3": "AVAILABLE"}


def test_a_broken_version_is_reported_and_the_label_stays_where_it_was(
    server: Server, registry: Path, reference
) -> None:
    broken = version_dir(registry, MODEL, 4)
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    write_models_config(registry, {MODEL: {"production": 4}})

    deadline = time.monotonic() + 30
    while status_of(server).get("4") != "END":
        assert time.monotonic() < deadline, f"version 4 never failed: {status_of(server)}"
        time.sleep(0.1)
    reply = server.get(f"/v1/models/{MODEL}/versions/4")
    traffic = Traffic(server, reference)
    traffic.wait_for(lambda answers: len(answers) >= 10)
    answers = traffic.stop()

    (status,) = reply.json()["model_version_status"]
    assert status["state"] == "END"
    assert status["status"]["error_code"] == "UNKNOWN"
    assert status["status"]["error_message"], "the load error should be reported"
    assert set(answers) == {3}, "production should stay on version 3"
    assert server.get("/healthz").status == 200
    labels = server.get("/healthz").json()["models"][MODEL]["labels"]
    assert labels == {"production": 3}
