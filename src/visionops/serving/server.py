"""Running the model server in the foreground with uvicorn."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import tensorflow as tf
import uvicorn

from visionops.serving.api import PredictFirst, create_app
from visionops.serving.options import ServeOptions

logger = logging.getLogger(__name__)


def _stopped(signum: int, frame: FrameType | None) -> None:
    logger.info("Stopped by %s", signal.Signals(signum).name)


def _configure_threads(options: ServeOptions) -> None:
    # Must run before TensorFlow's runtime starts, i.e. before any model loads.
    if options.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(options.intra_op_threads)
    if options.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(options.inter_op_threads)


def run_server(options: ServeOptions) -> None:
    """Serves the registry until SIGINT or SIGTERM, then shuts down cleanly and returns.

    Requests in progress are finished (for up to 10 s) before the process stops.

    Loads what the registry serves before listening, so the first request finds the
    models there; ``/healthz`` says 503 while no version is loaded.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _configure_threads(options)
    config = uvicorn.Config(
        PredictFirst(create_app(options)),
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
        "visionops serve: TF Serving REST API at http://%s:%d/v1/models/ (batching %s; "
        "TensorFlow threads: intra-op %s, inter-op %s)",
        options.host,
        options.port,
        f"up to {options.max_batch_size}" if options.max_batch_size > 1 else "off",
        tf.config.threading.get_intra_op_parallelism_threads() or "auto",
        tf.config.threading.get_inter_op_parallelism_threads() or "auto",
    )
    # Once shut down, uvicorn raises the stopping signal again so that its default action
    # applies (a KeyboardInterrupt traceback, or death by SIGTERM); these handlers take
    # it instead, so that a clean stop returns and the command exits 0.
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
