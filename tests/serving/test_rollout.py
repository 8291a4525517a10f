"""Canary and shadow rollouts on a live server, under clients that send without pause.

One server and one registry for the module, in order: version 2 (other weights than
production's version 1) runs in shadow, and no client ever gets its answers; then
version 4, which fails on bright images, runs as a 50% canary and is rolled back by the
error-rate guard, while no request fails.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from visionops.registry.events import read_events, verify_chain
from visionops.registry.export import export_saved_model
from visionops.registry.layout import read_labels, version_dir
from visionops.registry.rollout import (
    CANARY,
    ROLLOUT_ROLLED_BACK,
    SHADOW,
    read_rollout,
    start_rollout,
    stop_rollout,
)
from visionops.registry.signature_names import UINT8_SIGNATURE

from .support import CLASS_NAMES, IMAGE_SHAPE, MODEL, Server

PREDICT = f"/v1/models/{MODEL}:predict"
GUARDS = """
guards:
  error_rate: {max: 0.05, min_requests: 20}
  p99_latency_ms: {max: 60000, min_requests: 20}
  disagreement: {max: 1.0, min_requests: 20}
canary: {compare_share: 0.5}
"""
BRIGHT_FROM = 128  # version 4 fails on an image whose mean pixel is at least this


def probe_images() -> np.ndarray:
    """Nine dark images (mean about 75) and three bright ones (mean about 200)."""
    rng = np.random.default_rng(7)
    dark = rng.integers(0, 150, (9, *IMAGE_SHAPE), dtype=np.uint8)
    bright = rng.integers(150, 256, (3, *IMAGE_SHAPE), dtype=np.uint8)
    return np.concatenate([dark, bright])


@pytest.fixture(scope="module")
def failing_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SavedModel that answers dark images and rejects bright ones, as a model whose
    graph checks its input does: the check is a layer of the exported model."""
    import keras
    import tensorflow as tf

    from visionops.modeling.architectures import build_model

    class RejectsBright(keras.layers.Layer):
        def call(self, images: tf.Tensor) -> tf.Tensor:
            means = tf.reduce_mean(images, axis=[1, 2, 3])
            check = tf.debugging.assert_less(
                means, float(BRIGHT_FROM), message="the candidate rejects bright images"
            )
            with tf.control_dependencies([check]):
                return tf.identity(images)

    keras.utils.set_random_seed(4)
    inputs = keras.Input(IMAGE_SHAPE)
    classifier = build_model("simple_cnn", IMAGE_SHAPE, len(CLASS_NAMES), width=4)
    model = keras.Model(inputs, classifier(RejectsBright()(inputs)))
    path = tmp_path_factory.mktemp("failing_version") / "4"
    export_saved_model(model, CLASS_NAMES, IMAGE_SHAPE, path)
    return path


@pytest.fixture(scope="module")
def registry(make_registry, failing_version: Path) -> Path:
    import shutil

    root = make_registry((1, 2), {"production": 1})
    shutil.copytree(failing_version, version_dir(root, MODEL, 4))
    return root


@pytest.fixture(scope="module")
def server(registry: Path, start_server, tmp_path_factory: pytest.TempPathFactory) -> Server:
    project = tmp_path_factory.mktemp("rollout_project")
    (project / "conf" / "base").mkdir(parents=True)
    (project / "conf" / "base" / "release_rollout.yml").write_text(GUARDS)
    return start_server(registry, "--poll-seconds", "0.1", "--project-dir", str(project))


class Clients:
    """Threads that send predict requests back to back; each answer is kept with the
    image it was for."""

    def __init__(self, server: Server, threads: int = 4) -> None:
        self.server = server
        self.images = probe_images()
        self.answers: list[tuple[int, object]] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(seed,), daemon=True) for seed in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, seed: int) -> None:
        order = np.random.default_rng(seed)
        while not self._stop.is_set():
            index = int(order.integers(len(self.images)))
            document = {
                "signature_name": UINT8_SIGNATURE,
                "instances": self.images[index : index + 1].tolist(),
            }
            try:
                reply = self.server.post(PREDICT, document)
            except OSError as error:
                self.answers.append((index, f"no answer: {error!r}"))
                continue
            if reply.status != 200:
                self.answers.append((index, f"{reply.status}: {reply.body[:300]!r}"))
                continue
            self.answers.append((index, reply.json()["predictions"][0]["probabilities"]))

    def wait_for(self, condition, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out; last answers: {self.answers[-5:]}"
            time.sleep(0.1)

    def stop(self) -> list[tuple[int, object]]:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        return self.answers


def metric(server: Server, name: str, **labels: str) -> float:
    """The value of one series of the server's /metrics (0 when it is not there)."""
    text = server.get("/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_in_shadow_no_client_ever_gets_the_candidates_answer(
    server: Server, registry: Path, reference
) -> None:
    images = probe_images()
    production = reference(1, images)["probabilities"]
    shadow = reference(2, images)["probabilities"]
    assert not np.allclose(production, shadow, atol=1e-3), "the versions must be told apart"
    clients = Clients(server)
    try:
        clients.wait_for(lambda: len(clients.answers) >= 10)
        rollout = start_rollout(registry, MODEL, 2, SHADOW, reason="shadow v2")
        state = {"model": MODEL, "rollout": rollout.id, "state": "active"}
        wait_until(lambda: metric(server, "visionops_serving_rollout_state", **state) == 1)
        shadowed = {"model": MODEL, "rollout": rollout.id, "arm": "shadow"}
        clients.wait_for(
            lambda: metric(server, "visionops_serving_rollout_requests_total", **shadowed) >= 40
        )
    finally:
        answers = clients.stop()

    failures = [answer for _, answer in answers if isinstance(answer, str)]
    assert failures == []
    wrong = [i for i, got in answers if not np.allclose(got, production[i], atol=1e-5)]
    assert wrong == [], f"{len(wrong)} of {len(answers)} answers were not production's"
    comparisons = server.production / "rollouts" / MODEL / f"{rollout.id}.jsonl"
    wait_until(lambda: comparisons.is_file() and len(comparisons.read_text().splitlines()) >= 40)
    records = [json.loads(line) for line in comparisons.read_text().splitlines()]
    assert {(r["production"]["version"], r["candidate"]["version"]) for r in records} == {(1, 2)}
    assert all(r["answered_by"] == 1 and "class_names" in r["candidate"] for r in records)
    assert metric(server, "visionops_serving_rollout_guard_value", guard="disagreement") >= 0
    stop_rollout(registry, MODEL, "shadow seen")
    wait_until(lambda: metric(server, "visionops_serving_rollout_state", state="over") == 1)


def test_a_failing_canary_is_rolled_back_and_no_request_fails(
    server: Server, registry: Path, reference
) -> None:
    images = probe_images()
    bright = {i for i, image in enumerate(images) if image.mean() >= BRIGHT_FROM}
    assert bright == {9, 10, 11}
    production = reference(1, images)["probabilities"]
    clients = Clients(server)
    try:
        clients.wait_for(lambda: len(clients.answers) >= 10)
        rollout = start_rollout(registry, MODEL, 4, CANARY, 0.5, reason="canary v4")
        wait_until(lambda: read_rollout(registry, MODEL) is None, timeout=90)
        rolled_back_at = len(clients.answers)
        clients.wait_for(lambda: len(clients.answers) >= rolled_back_at + 40)
    finally:
        answers = clients.stop()

    failures = [answer for _, answer in answers if isinstance(answer, str)]
    assert failures == [], f"{len(failures)} of {len(answers)} requests failed: {failures[:3]}"
    from_candidate = [i for i, got in answers if not np.allclose(got, production[i], atol=1e-5)]
    assert from_candidate, "the candidate answered none of the dark images"
    assert not set(from_candidate) & bright, "a bright image got the failing candidate's answer"
    tail = answers[rolled_back_at + 8 :]  # past the requests in flight at the rollback
    assert all(np.allclose(got, production[i], atol=1e-5) for i, got in tail)

    event = read_events(registry, MODEL)[-1]
    assert event["event"] == ROLLOUT_ROLLED_BACK
    assert event["details"]["rollout"] == rollout.id
    assert event["details"]["guard"] == "error_rate"
    assert event["details"]["limit"] == 0.05
    assert event["details"]["measured"] > 0.05
    assert event["details"]["requests"] >= 20
    assert re.fullmatch(
        r"guard error_rate breached: measured \S+ over \d+ requests, limit 0.05", event["reason"]
    )
    assert verify_chain(registry, MODEL) == []
    assert read_labels(registry)[MODEL] == {"production": 1}
    tag = {"model": MODEL, "rollout": rollout.id}
    assert metric(server, "visionops_serving_rollout_state", state="rolled_back", **tag) == 1
    assert metric(server, "visionops_serving_rollout_candidate_errors_total", **tag) >= 1
    fallbacks = metric(server, "visionops_serving_rollout_requests_total", arm="fallback", **tag)
    assert fallbacks >= 1
    assert metric(server, "visionops_serving_rollout_requests_total", arm="candidate", **tag) >= 1
