"""Server-side micro-batching: concurrent predict calls share one TensorFlow call.

Each (model version, signature) pair gets a queue. The first request to arrive starts
a drain task; it waits until the queue holds as many examples as the batch before
(at most ``max_batch_size``) or the oldest request has waited ``batch_timeout`` (TF
Serving's ``batch_timeout_micros``), then merges the queued inputs (in arrival order,
each request's examples kept together and in order), runs them in a worker thread and
hands each request its slice of the outputs. One batch per queue runs at a time;
while it runs, the next one fills, so parsing requests on the event loop and running
the model overlap.

Waiting for the size of the batch before, rather than always for a full batch,
follows the load: clients that got their answers from one batch send their next
requests together, so under steady load the queue reaches that size quickly and the
batch runs without idling out the timeout, as it would when fewer clients than
``max_batch_size`` are sending (a wait for a full batch would then always last the
whole timeout). Under light traffic the batch before held a single request, so a
request runs at once; as soon as requests queue up behind a running batch, batches
grow, and the target with them.

Batching pays because a TensorFlow call has a fixed cost (dispatching every op of the
graph) that one image of a small CNN does not amortise; 32 images in one call cost far
less than 32 calls. If a merged batch is rejected by the model (say one request sent
bytes that are no image), its requests are run one by one, so only the culprit fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from visionops.serving.errors import BadRequestError
from visionops.serving.models import LoadedVersion

Arrays = Mapping[str, np.ndarray]
BatchObserver = Callable[[LoadedVersion, str, int], None]


@dataclass
class Queued:
    """One request waiting in a batcher: its inputs, its examples and when it arrived
    (the event loop's clock)."""

    inputs: Arrays
    size: int
    arrival: float
    future: asyncio.Future


# What a batch's requests get, in their order: each one's answer, or its error.
BatchAnswer = Callable[[list[Queued]], Awaitable[list[Any]]]


class MicroBatcher:
    """One queue of requests, whose merged batches ``answer`` runs.

    Args:
        bound: What its batches are bound to: the loaded versions they may run on, and
            the rollout that routes them, if any; any of them replaced (a version
            reloaded, a new rollout) gets a new batcher in the same place.
        answer: Runs one batch; returns each request's answer or error, in order.
        max_batch_size: Most examples in one merged call.
        timeout_s: Longest the oldest queued request waits for others to join.
    """

    def __init__(
        self,
        bound: tuple[object, ...],
        answer: BatchAnswer,
        max_batch_size: int,
        timeout_s: float,
    ) -> None:
        self.bound = bound
        self.max_batch_size = max_batch_size
        self.timeout_s = timeout_s
        self._answer = answer
        self._pending: deque[Queued] = deque()
        self._pending_size = 0
        self._enough = asyncio.Event()
        self._wanted = max_batch_size
        self._worker: asyncio.Task | None = None
        self._last_batch_size = 1

    async def submit(self, inputs: Arrays, size: int) -> Any:
        """Queues one request's inputs (``size`` examples); returns its answer."""
        loop = asyncio.get_running_loop()
        item = Queued(inputs, size, loop.time(), loop.create_future())
        self._pending.append(item)
        self._pending_size += size
        if self._pending_size >= self._wanted:
            self._enough.set()
        if self._worker is None:
            self._worker = loop.create_task(self._drain())
        return await item.future

    async def _drain(self) -> None:
        try:
            while self._pending:
                await self._gather()
                await self._run(self._take())
        finally:
            self._worker = None

    async def _gather(self) -> None:
        self._wanted = min(self.max_batch_size, self._last_batch_size)
        if self._pending_size >= self._wanted:
            return
        remaining = self._pending[0].arrival + self.timeout_s - asyncio.get_running_loop().time()
        if remaining > 0:
            self._enough.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._enough.wait(), remaining)

    def _take(self) -> list[Queued]:
        batch = [self._pending.popleft()]
        size = batch[0].size
        while self._pending and size + self._pending[0].size <= self.max_batch_size:
            size += self._pending[0].size
            batch.append(self._pending.popleft())
        self._pending_size -= size
        self._last_batch_size = size
        return batch

    async def _run(self, batch: list[Queued]) -> None:
        try:
            answers = await self._answer(batch)
        except Exception as error:
            answers = [error] * len(batch)
        for item, answer in zip(batch, answers, strict=True):
            if item.future.done():  # the client went away and its request was cancelled
                continue
            if isinstance(answer, BaseException):
                item.future.set_exception(answer)
            else:
                item.future.set_result(answer)


class Predictor:
    """Runs predictions for the API, through micro-batches or one call per request.

    Args:
        max_batch_size: Most examples per merged call; 1 turns batching off, and then
            every request is its own TensorFlow call, several running in parallel.
        batch_timeout_s: Longest a request waits for others to join its batch.
        observe: Called with each batch size that ran.
        threads: Worker threads for TensorFlow calls (default: max(4, CPU count)).
    """

    def __init__(
        self,
        max_batch_size: int,
        batch_timeout_s: float,
        observe: BatchObserver,
        threads: int | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size is {max_batch_size}; it must be at least 1")
        self.max_batch_size = max_batch_size
        self.batch_timeout_s = batch_timeout_s
        self._observe = observe
        workers = threads or max(4, os.cpu_count() or 1)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="predict")
        self._batchers: dict[tuple, MicroBatcher] = {}

    def batches(self, size: int) -> bool:
        """Whether a request of ``size`` examples waits in a micro-batch."""
        return self.max_batch_size > 1 and size < self.max_batch_size

    async def _call(
        self, version: LoadedVersion, signature_name: str, inputs: Arrays, size: int
    ) -> dict[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        outputs = await loop.run_in_executor(
            self._executor, version.predict, signature_name, inputs
        )
        self._observe(version, signature_name, size)
        return outputs

    async def run_batch(
        self, version: LoadedVersion, signature_name: str, batch: list[Queued]
    ) -> list[Any]:
        """Each queued request's outputs from ``version``, or its error, in one merged call.

        If the model rejects the merged batch (say one request sent bytes that are no
        image), its requests are run one by one, so only the culprit fails.
        """
        if not batch:
            return []
        size = sum(item.size for item in batch)
        if len(batch) == 1:
            merged = batch[0].inputs
        else:
            keys = batch[0].inputs.keys()
            merged = {key: np.concatenate([item.inputs[key] for item in batch]) for key in keys}
        try:
            outputs = await self._call(version, signature_name, merged, size)
        except BadRequestError as error:
            if len(batch) == 1:
                return [error]
            answers: list[Any] = []
            for item in batch:
                try:
                    answers.append(
                        await self._call(version, signature_name, item.inputs, item.size)
                    )
                except Exception as single_error:  # noqa: BLE001 -- it is that request's answer
                    answers.append(single_error)
            return answers
        except Exception as error:  # noqa: BLE001 -- every request of the batch gets it
            return [error] * len(batch)
        answers, start = [], 0
        for item in batch:
            end = start + item.size
            answers.append({key: value[start:end] for key, value in outputs.items()})
            start = end
        return answers

    def _batcher(
        self, key: tuple, bound: tuple[object, ...], answer: Callable[[], BatchAnswer]
    ) -> MicroBatcher:
        batcher = self._batchers.get(key)
        if batcher is None or any(
            old is not new for old, new in zip(batcher.bound, bound, strict=True)
        ):  # none yet, or replaced since: one batcher a key, so old ones are let go
            batcher = MicroBatcher(bound, answer(), self.max_batch_size, self.batch_timeout_s)
            self._batchers[key] = batcher
        return batcher

    async def predict(
        self, version: LoadedVersion, signature_name: str, inputs: Arrays, size: int
    ) -> dict[str, np.ndarray]:
        """The outputs of ``signature_name`` of ``version`` for one request's inputs.

        Raises:
            BadRequestError: The model rejected the input.
        """
        if not self.batches(size):
            return await self._call(version, signature_name, inputs, size)
        key = (version.model_name, version.version, signature_name)
        batcher = self._batcher(
            key, (version,), lambda: partial(self.run_batch, version, signature_name)
        )
        return await batcher.submit(inputs, size)

    async def predict_routed(
        self,
        key: tuple,
        bound: tuple[object, ...],
        router: Callable[[], BatchAnswer],
        inputs: Arrays,
        size: int,
    ) -> Any:
        """One request's answer from the batches of the queue ``key``, whose batches
        ``router()`` decides and runs; what a canary rollout sends its production requests
        through, so that whole batches, not requests, go to one version or the other.
        ``router()`` is called for a new queue: the first, or when anything in ``bound``
        (the versions, the rollout) is not what the queue was made for. ``size`` is
        below the batch size (see :meth:`batches`)."""
        return await self._batcher(("routed", *key), bound, router).submit(inputs, size)

    def close(self) -> None:
        """Stops the worker threads once running calls finish."""
        self._executor.shutdown(wait=False, cancel_futures=True)
