"""Where per-shard work runs: in this process, on every local core, or on Ray.

With ``RAY_ADDRESS`` set, each task is a Ray task on that cluster (the source files
must be readable at the same path on its nodes, e.g. a shared volume, and visionops
importable there). The process connects once; an address where no cluster answers is
a ConfigError at once, and a task's own exception is raised here as itself. Without it,
a small job runs in this process and a larger one in a pool of worker processes,
one per core; nothing starts Ray. Results come back in submission order whatever
finishes first, and at most a few tasks are in flight, so memory holds a few shards'
results, never the dataset's.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from typing import Any

from visionops.errors import ConfigError

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


# Below this many images a job runs in this process: starting the workers (about
# 0.2 s: they fork from a server that imported the task's module once) would take
# longer than the work, at about 0.5 ms an image.
LOCAL_THRESHOLD = 1024


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
    with ProcessPoolExecutor(workers, mp_context=_worker_context(function)) as pool:
        pending: deque[Any] = deque()
        for args in arguments:
            pending.append(pool.submit(function, *args))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _worker_context(function: Callable[..., Any]) -> BaseContext:
    """How worker processes start: forked from a clean server process that imported
    ``function``'s module once, so each worker starts at once, already importing it.

    Not forked from this process: it may hold TensorFlow's threads, which fork would
    copy in whatever state they are in. The server is started on first use and serves
    every later pool of this process.
    """
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    context = get_context("forkserver")
    context.set_forkserver_preload([function.__module__])
    return context


def _run_on_ray(
    function: Callable[..., Any], arguments: Iterable[tuple[Any, ...]]
) -> Iterator[Any]:
    """Runs the tasks as Ray tasks on the cluster at ``RAY_ADDRESS``, results in order.

    A few tasks per CPU of the cluster are in flight at a time; the rest wait here,
    so neither the driver nor the object store holds more than a few shards' results.
    """
    import ray

    connect_to_ray()
    remote = ray.remote(function)
    window = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    pending: deque[Any] = deque()
    try:
        for args in arguments:
            pending.append(remote.remote(*args))
            if len(pending) >= window:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        # A failed task or a failed consumer leaves the rest unwanted: cancel them.
        for reference in pending:
            ray.cancel(reference)


def connect_to_ray() -> None:
    """Connects this process to the Ray cluster at ``RAY_ADDRESS`` (once per process).

    Raises:
        ConfigError: ``RAY_ADDRESS`` is unset, or no Ray cluster answers there.
    """
    import ray

    if ray.is_initialized():
        return
    address = ray_address()
    if address is None:
        raise ConfigError(f"{RAY_ADDRESS_VARIABLE} is not set; set it to the Ray cluster to use")
    _check_reachable(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as error:
        raise ConfigError(
            f"cannot connect to the Ray cluster at {RAY_ADDRESS_VARIABLE}={address}: {error}; "
            f"start the cluster or fix {RAY_ADDRESS_VARIABLE}, or unset it to run locally"
        ) from error
    logger.info("Connected to the Ray cluster at %s", address)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fails at once where ``host:port`` does not accept connections (Ray itself would
    retry for minutes before giving up). Other forms (``auto``) are left to Ray."""
    host, separator, port = address.removeprefix("ray://").rpartition(":")
    if not separator or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as error:
        raise ConfigError(
            f"no Ray cluster answers at {RAY_ADDRESS_VARIABLE}={address} "
            f"({error.strerror or error}); start the cluster (ray start --head) or fix "
            f"{RAY_ADDRESS_VARIABLE}, or unset it to run on this machine"
        ) from error


def _result(reference: Any) -> Any:
    """The task's result; a task's own exception is raised as itself, with its message
    (Ray's error, which holds the remote traceback, is its cause)."""
    import ray

    try:
        return ray.get(reference)
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, Exception) and not isinstance(cause, ray.exceptions.RayError):
            raise cause from error
        raise
