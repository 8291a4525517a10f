"""Micro-batching: concurrent requests share model calls and each gets its own answer."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from visionops.serving.batching import Predictor
from visionops.serving.errors import ModelInputError

from .support import MODEL, Server, images, png_request

PREDICT = f"/v1/models/{MODEL}:predict"


class Doubler:
    """Stands in for a loaded version: doubles its input; refuses negative numbers."""

    model_name, version = "doubler", 1

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict:
        values = inputs["x"]
        self.calls.append(len(values))
        if (values < 0).any():
            raise ModelInputError("negative input")
        return {"y": values * 2}


def run_concurrently(predictor: Predictor, version: Doubler, requests: list[np.ndarray]) -> list:
    async def one(values: np.ndarray) -> object:
        try:
            return (
                await predictor.predict(version, "serving_default", {"x": values}, len(values))
            )["y"]
        except ModelInputError as error:
            return error

    async def everything() -> list:
        return await asyncio.gather(*(one(values) for values in requests))

    return asyncio.run(everything())


def test_concurrent_requests_are_merged_up_to_the_batch_size_and_split_back() -> None:
    version, sizes = Doubler(), []
    predictor = Predictor(8, 0.05, lambda _version, _signature, size: sizes.append(size))
    requests = [
        np.arange(start, start + count)
        for start, count in [(0, 3), (10, 1), (20, 4), (30, 2), (40, 5)]
    ]

    results = run_concurrently(predictor, version, requests)

    for values, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result, values * 2)
    assert max(version.calls) <= 8
    assert len(version.calls) < len(requests), "nothing was merged"
    assert sorted(sizes) == sorted(version.calls)
    predictor.close()


def test_a_rejected_request_fails_alone_when_its_batch_is_retried_one_by_one() -> None:
    version = Doubler()
    predictor = Predictor(16, 0.05, lambda *_: None)
    requests = [np.array([1, 2]), np.array([-1]), np.array([3])]

    results = run_concurrently(predictor, version, requests)

    assert version.calls == [4, 2, 1, 1], "merged first, then one call per request"
    np.testing.assert_array_equal(results[0], [2, 4])
    assert isinstance(results[1], ModelInputError)
    np.testing.assert_array_equal(results[2], [6])
    predictor.close()


# A batch timeout no test outlives: a request that waited for it would hang, so the
# tests below bound their wait with HANG_S, which only stops a test that would hang.
HOUR_S = 3600.0
HANG_S = 30.0


def within_hang_bound(work: Awaitable[Any], waited_for: str) -> Any:
    """Runs ``work``; fails the test, naming ``waited_for``, if it is still waiting."""

    async def bounded() -> Any:
        return await asyncio.wait_for(work, HANG_S)

    try:
        return asyncio.run(bounded())
    except TimeoutError:
        pytest.fail(f"still waiting after {HANG_S:.0f} s: {waited_for}")


def test_a_lone_request_under_light_traffic_runs_without_waiting() -> None:
    version = Doubler()
    predictor = Predictor(8, HOUR_S, lambda *_: None)

    result = within_hang_bound(
        predictor.predict(version, "serving_default", {"x": np.array([21])}, 1),
        "the lone request waited for the batch timeout",
    )

    assert version.calls == [1]
    assert int(result["y"][0]) == 42
    predictor.close()


def test_a_batch_waits_for_as_many_examples_as_the_batch_before_not_for_a_full_one() -> None:
    version = Doubler()
    predictor = Predictor(32, HOUR_S, lambda *_: None)

    def one(value: int) -> Awaitable[dict]:
        return predictor.predict(version, "serving_default", {"x": np.array([value])}, 1)

    async def later(value: int) -> dict:
        await asyncio.sleep(0.02 * value)
        return await one(value)

    async def two_rounds() -> None:
        await asyncio.gather(*(one(value) for value in range(4)))  # queued together
        await asyncio.gather(*(later(value) for value in range(4)))  # 20 ms apart

    within_hang_bound(two_rounds(), "the second batch waited for a full batch of 32")

    assert version.calls == [4, 4], "the second batch did not wait for the fourth request"
    predictor.close()


def test_batching_off_calls_the_model_once_per_request() -> None:
    version = Doubler()
    predictor = Predictor(1, 0.05, lambda *_: None)
    requests = [np.array([index]) for index in range(6)]

    results = run_concurrently(predictor, version, requests)

    assert [int(result[0]) for result in results] == [0, 2, 4, 6, 8, 10]
    assert version.calls == [1] * 6
    predictor.close()


def batch_size_series(server: Server) -> tuple[int, float]:
    """The batch size histogram's count and sum for the digits model."""
    text = server.get("/metrics").body.decode()
    count = re.search(r'visionops_serving_batch_size_count\{model="digits"[^}]*\} (\S+)', text)
    total = re.search(r'visionops_serving_batch_size_sum\{model="digits"[^}]*\} (\S+)', text)
    return int(float(count.group(1))), float(total.group(1))


@pytest.mark.parametrize(
    "options", [("--max-batch-size", "8", "--batch-timeout-ms", "20"), ("--no-batching",)]
)
def test_many_concurrent_requests_each_get_their_own_answer(
    make_registry, start_server, reference, options: tuple[str, ...]
) -> None:
    server = start_server(make_registry((1,), {"production": 1}), *options)
    # 48 requests of 1 to 3 images each, sent by 24 threads at once.
    requests = [images(1 + index % 3, seed=100 + index) for index in range(48)]
    expected = [reference(1, batch)["probabilities"] for batch in requests]

    with ThreadPoolExecutor(24) as pool:
        replies = list(pool.map(lambda batch: server.post(PREDICT, png_request(batch)), requests))

    for reply, want in zip(replies, expected, strict=True):
        assert reply.status == 200
        got = [row["probabilities"] for row in reply.json()["predictions"]]
        np.testing.assert_allclose(got, want, atol=1e-5)
    calls, examples = batch_size_series(server)
    assert examples == sum(len(batch) for batch in requests)
    if "--no-batching" in options:
        assert calls == len(requests)
    else:
        assert calls < len(requests), "no two requests were merged"
        bounded = re.search(
            r'batch_size_bucket\{model="digits"[^}]*le="8"\} (\S+)',
            server.get("/metrics").body.decode(),
        )
        assert float(bounded.group(1)) == calls, "a batch was larger than --max-batch-size"
