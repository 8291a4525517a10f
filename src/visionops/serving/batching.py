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
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from visionops.serving.errors import BadRequestError
from visionops.serving.models import LoadedVersion

Arrays = Mapping[str, np.ndarray]
BatchObserver = Callable[[LoadedVersion, str, int], None]


@dataclass
class _Pending:
    inputs: Arrays
    size: int
    future: asyncio.Future
    arrival: float


class MicroBatcher:
    """The queue of one signature of one loaded version.

    Args:
        version: The loaded version to call.
        signature_name: The signature to call.
        max_batch_size: Most examples in one merged call.
        timeout_s: Longest the oldest queued request waits for others to join.
        executor: Where the blocking TensorFlow call runs.
        observe: Called with each batch size that ran.
    """

    def __init__(
        self,
        version: LoadedVersion,
        signature_name: str,
        max_batch_size: int,
        timeout_s: float,
        executor: Executor,
        observe: BatchObserver,
    ) -> None:
        self.version = version
        self.signature_name = signature_name
        self.max_batch_size = max_batch_size
        self.timeout_s = timeout_s
        self._executor = executor
        self._observe = observe
        self._pending: deque[_Pending] = deque()
        self._pending_size = 0
        self._enough = asyncio.Event()
        self._wanted = max_batch_size
        self._worker: asyncio.Task | None = None
        self._last_batch_size = 1

    async def submit(self, inputs: Arrays, size: int) -> dict[str, np.ndarray]:
        """Queues one request's inputs (``size`` examples); returns its outputs."""
        loop = asyncio.get_running_loop()
        item = _Pending(inputs, size, loop.create_future(), loop.time())
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

    def _take(self) -> list[_Pending]:
        batch = [self._pending.popleft()]
        size = batch[0].size
        while self._pending and size + self._pending[0].size <= self.max_batch_size:
            size += self._pending[0].size
            batch.append(self._pending.popleft())
        self._pending_size -= size
        self._last_batch_size = size
        return batch

    async def _call(self, inputs: Arrays, size: int) -> dict[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        outputs = await loop.run_in_executor(
            self._executor, self.version.predict, self.signature_name, inputs
        )
        self._observe(self.version, self.signature_name, size)
        return outputs

    async def _run(self, batch: list[_Pending]) -> None:
        size = sum(item.size for item in batch)
        if len(batch) == 1:
            merged = batch[0].inputs
        else:
            keys = batch[0].inputs.keys()
            merged = {key: np.concatenate([item.inputs[key] for item in batch]) for key in keys}
        try:
            outputs = await self._call(merged, size)
        except BadRequestError as error:
            if len(batch) == 1:
                _settle(batch[0].future, error=error)
                return
            for item in batch:
                try:
                    _settle(item.future, await self._call(item.inputs, item.size))
                except Exception as single_error:
                    _settle(item.future, error=single_error)
            return
        except Exception as error:
            for item in batch:
                _settle(item.future, error=error)
            return
        start = 0
        for item in batch:
            end = start + item.size
            _settle(item.future, {key: value[start:end] for key, value in outputs.items()})
            start = end


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():  # the client went away and its request was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


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
        self._batchers: dict[tuple[str, int, str], MicroBatcher] = {}

    def _batcher(self, version: LoadedVersion, signature_name: str) -> MicroBatcher:
        key = (version.model_name, version.version, signature_name)
        batcher = self._batchers.get(key)
        if batcher is None or batcher.version is not version:  # reloaded since
            batcher = MicroBatcher(
                version,
                signature_name,
                self.max_batch_size,
                self.batch_timeout_s,
                self._executor,
                self._observe,
            )
            self._batchers[key] = batcher
        return batcher

    async def predict(
        self, version: LoadedVersion, signature_name: str, inputs: Arrays, size: int
    ) -> dict[str, np.ndarray]:
        """The outputs of ``signature_name`` of ``version`` for one request's inputs.

        Raises:
            BadRequestError: The model rejected the input.
        """
        if self.max_batch_size > 1 and size < self.max_batch_size:
            return await self._batcher(version, signature_name).submit(inputs, size)
        loop = asyncio.get_running_loop()
        outputs = await loop.run_in_executor(
            self._executor, version.predict, signature_name, inputs
        )
        self._observe(version, signature_name, size)
        return outputs

    def close(self) -> None:
        """Stops the worker threads once running calls finish."""
        self._executor.shutdown(wait=False, cancel_futures=True)
