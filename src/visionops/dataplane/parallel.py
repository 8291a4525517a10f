"""Where per-shard work runs: in this process, on every local core, or on Ray.

With ``RAY_ADDRESS`` set, each task is a Ray task on that cluster (the source files
must be readable at the same path on its nodes, e.g. a shared volume). Without it,
a small job runs in this process and a larger one in a pool of worker processes,
one per core; nothing starts Ray. Results come back in submission order whatever
finishes first, and at most a few tasks are in flight, so memory holds a few shards'
results, never the dataset's.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

logger = logging.getLogger(__name__)

RAY_ADDRESS_VARIABLE = "RAY_ADDRESS"


def worker_count() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def ray_address() -> str | None:
    """The Ray cluster to use, from ``RAY_ADDRESS``; None runs locally."""
    return os.environ.get(RAY_ADDRESS_VARIABLE) or None


def describe_engine(tasks: int, images: int) -> str:
    """Where :func:`run_tasks` runs ``tasks`` tasks of ``images`` images."""
    if ray_address():
        return f"Ray cluster at {ray_address()}"
    workers = min(worker_count(), tasks) if images >= LOCAL_THRESHOLD else 1
    return "this process" if workers <= 1 else f"{workers} local processes"


# Below this many images a job runs in this process: starting worker processes (each
# imports numpy and Pillow) would take longer than the work.
LOCAL_THRESHOLD = 4096


def run_tasks(
    function: Callable[..., Any], arguments: Iterable[tuple[Any, ...]], tasks: int, images: int
) -> Iterator[Any]:
    """Runs ``function(*arguments)`` for each argument tuple, yielding results in order.

    Args:
        function: A module-level function (it is pickled to the workers).
        arguments: One argument tuple per task.
        tasks: How many tasks there are.
        images: How many images they hold (a small job runs in this process).
    """
    if ray_address():
        yield from _run_on_ray(function, arguments)
        return
    workers = min(worker_count(), tasks) if images >= LOCAL_THRESHOLD else 1
    if workers <= 1:
        for args in arguments:
            yield function(*args)
        return
    # spawn, not fork: the parent may hold TensorFlow's threads, which fork would copy
    # in whatever state they are in.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pending: deque[Any] = deque()
        for args in arguments:
            pending.append(pool.submit(function, *args))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _run_on_ray(
    function: Callable[..., Any], arguments: Iterable[tuple[Any, ...]]
) -> Iterator[Any]:
    import ray

    if not ray.is_initialized():
        ray.init(address=ray_address(), logging_level=logging.WARNING, log_to_driver=False)
    remote = ray.remote(function)
    window = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    pending: deque[Any] = deque()
    for args in arguments:
        pending.append(remote.remote(*args))
        if len(pending) >= window:
            yield ray.get(pending.popleft())
    while pending:
        yield ray.get(pending.popleft())
