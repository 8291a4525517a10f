"""Running the model server in the foreground: REST with uvicorn, gRPC beside it on its loop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

import tensorflow as tf
import uvicorn
from fastapi import FastAPI

from visionops.errors import ConfigError
from visionops.serving.api import PredictFirst, create_app
from visionops.serving.options import ServeOptions

if TYPE_CHECKING:
    from visionops.serving.grpc_server import GrpcServer

logger = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


def _stopped(signum: int, frame: FrameType | None) -> None:
    logger.info("Stopped by %s", signal.Signals(signum).name)


def _configure_threads(options: ServeOptions) -> None:
    # Must run before TensorFlow's runtime starts, i.e. before any model loads.
    if options.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(options.intra_op_threads)
    if options.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(options.inter_op_threads)


def _with_grpc(lifespan: Lifespan, grpc_server: GrpcServer) -> Lifespan:
    """``lifespan`` with ``grpc_server`` started once it has loaded the models, and stopped
    before it releases them."""

    @asynccontextmanager
    async def both(app: FastAPI) -> AsyncIterator[Any]:
        async with lifespan(app) as state:
            await grpc_server.start()
            try:
                yield state
            finally:
                await grpc_server.stop()

    return both


async def _serve(server: uvicorn.Server, app: FastAPI, options: ServeOptions) -> None:
    if options.grpc_port:
        try:
            from visionops.serving.grpc_server import GrpcServer
        except ImportError as error:
            raise ConfigError(
                f"the gRPC API needs the tensorflow-serving-api package ({error}); install "
                "it, or pass --grpc-port 0 to serve REST only"
            ) from error
        grpc_server = GrpcServer(app.state.serving, options)  # binds now: fails before loading
        app.router.lifespan_context = _with_grpc(app.router.lifespan_context, grpc_server)
    await server.serve()


def run_server(options: ServeOptions) -> None:
    """Serves the registry until SIGINT or SIGTERM, then shuts down cleanly and returns.

    Requests in progress are finished (for up to 10 s) before the process stops.

    Loads what the registry serves before listening, so the first request finds the
    models there; ``/healthz`` says 503 while no version is loaded. The gRPC API
    (``options.grpc_port``, unless 0) starts once the models are loaded and stops, after
    finishing its calls in progress, before they are released.

    Raises:
        ConfigError: The gRPC port cannot be bound, or the gRPC package is missing.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _configure_threads(options)
    app = create_app(options)
    config = uvicorn.Config(
        PredictFirst(app),
        host=options.host,
        port=options.port,
        access_log=False,  # one log line per request would cost more than a prediction
        # Nothing here reads the client's address or scheme, which is all that the
        # X-Forwarded-* middleware would rewrite, at a cost on every request.
        proxy_headers=False,
        server_header=False,
        log_level="info",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    logger.info(
        "visionops serve: TF Serving REST API at http://%s:%d/v1/models/, gRPC API %s "
        "(batching %s; TensorFlow threads: intra-op %s, inter-op %s)",
        options.host,
        options.port,
        f"at {options.host}:{options.grpc_port}" if options.grpc_port else "off",
        f"up to {options.max_batch_size}" if options.max_batch_size > 1 else "off",
        tf.config.threading.get_intra_op_parallelism_threads() or "auto",
        tf.config.threading.get_inter_op_parallelism_threads() or "auto",
    )
    # Once shut down, uvicorn raises the stopping signal again so that its default action
    # applies (a KeyboardInterrupt traceback, or death by SIGTERM); these handlers take
    # it instead, so that a clean stop returns and the command exits 0.
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # uvicorn's own Server.run, with the gRPC server created on the same loop.
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(_serve(server, app, options))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
