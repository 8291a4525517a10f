"""The load test's SavedModel behind Ray Serve with @serve.batch (benchmarks/serving_peers.py).

Run in the Ray Serve peer's virtual environment:
``python serve_app.py --model-dir DIR --port PORT --temp-dir DIR --threads auto,intra1``.

Starts a local Ray instance (2 CPUs, no dashboard, node address 127.0.0.1; its session
files under --temp-dir, a short path: Ray's socket paths must fit in 107 characters),
Serve's HTTP proxy on 127.0.0.1:PORT, and one application per TensorFlow threads
setting, one replica each, at ``POST /<setting>`` (``auto``: TensorFlow's choice;
``intra1``: one thread per op). Ray's internal gRPC services listen on every interface
and two of its agents on the host's address; Ray 2.60 guards them with a token it
writes to ~/.ray/auth_token.

A request carries the body a TF Serving REST client sends for one image,
``{"instances": [{"b64": "<PNG>"}]}``, and gets ``{"predictions": [...]}`` back, with
that image's ``probabilities``, ``class_ids`` and ``class_names``. ``@serve.batch``
merges up to 32 concurrent requests into one call of the SavedModel's ``serving_bytes``
signature (encoded images in every visionops export), which decodes and resizes the
PNGs inside the graph, as ``visionops serve`` does; ``PEER_BATCH_WAIT_MS`` in the
environment sets the batch wait (default 2). Prints ``ready`` once every application is
deployed, then serves until SIGTERM or SIGINT and shuts Ray down.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import threading
from typing import Any

import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import Response

MAX_BATCH_SIZE = 32
# Longest the first request of a batch waits for others; visionops serve's default is 2 ms.
BATCH_WAIT_S = float(os.environ.get("PEER_BATCH_WAIT_MS", "2")) / 1000
THREADS = {"auto": 0, "intra1": 1}


@serve.deployment(
    ray_actor_options={"num_cpus": 1},
    # Serve's default (5) would cap a replica's batches at 5 requests.
    max_ongoing_requests=2 * MAX_BATCH_SIZE,
    # No log line per request: visionops writes none either (access_log=False).
    logging_config={"enable_access_log": False},
)
class Classifier:
    """The SavedModel's default signature, one merged call per batch."""

    def __init__(self, model_dir: str, intra_op_threads: int) -> None:
        # Ray sets OMP_NUM_THREADS to the actor's CPUs; "auto" means TensorFlow's choice.
        if not intra_op_threads:
            os.environ.pop("OMP_NUM_THREADS", None)
        import tensorflow as tf

        if intra_op_threads:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
        self._tf = tf
        self._loaded = tf.saved_model.load(model_dir)
        self._signature = self._loaded.signatures["serving_bytes"]
        blank = tf.io.encode_png(tf.zeros([1, 1, 1], tf.uint8)).numpy()
        self._signature(image_bytes=tf.constant([blank]))  # one-off setup costs, before traffic

    def _run(self, encoded: list[bytes]) -> list[dict[str, Any]]:
        outputs = self._signature(image_bytes=self._tf.constant(encoded))
        probabilities = outputs["probabilities"].numpy().tolist()
        class_ids = outputs["class_ids"].numpy().tolist()
        class_names = [name.decode() for name in outputs["class_names"].numpy()]
        return [
            {"probabilities": row, "class_ids": class_id, "class_names": name}
            for row, class_id, name in zip(probabilities, class_ids, class_names, strict=True)
        ]

    @serve.batch(max_batch_size=MAX_BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_S)
    async def predict(self, encoded: list[bytes]) -> list[dict[str, Any]]:
        # Off the replica's event loop, so that the next batch gathers while this one runs.
        return await asyncio.to_thread(self._run, encoded)

    async def __call__(self, request: Request) -> Response:
        (instance,) = (await request.json())["instances"]
        prediction = await self.predict(base64.b64decode(instance["b64"]))
        # A Response with its Content-Length; a returned dict would reach the client chunked.
        return Response(json.dumps({"predictions": [prediction]}), media_type="application/json")


def main() -> None:
    """Serves every requested threads setting until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--temp-dir", required=True, help="root of Ray's session files")
    parser.add_argument("--threads", default="auto", help="comma-separated: auto, intra1")
    args = parser.parse_args()
    settings = args.threads.split(",")
    if unknown := set(settings) - set(THREADS):
        parser.error(f"--threads has {sorted(unknown)}; choose among {sorted(THREADS)}")
    stop = threading.Event()
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=256 * 1024 * 1024,
            _node_ip_address="127.0.0.1",
            _temp_dir=args.temp_dir,
            log_to_driver=False,
        )
        # After ray.init, which installs handlers of its own that would take SIGTERM.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        serve.start(http_options={"host": "127.0.0.1", "port": args.port})
        for name in settings:
            application = Classifier.bind(args.model_dir, THREADS[name])
            serve.run(application, name=name, route_prefix=f"/{name}", blocking=False)
        print("ready", flush=True)
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
