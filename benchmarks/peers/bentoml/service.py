"""The load test's SavedModel behind BentoML with adaptive batching (benchmarks/serving_peers.py).

``POST /predict`` takes the body a TF Serving REST client sends for one image,
``{"instances": [{"b64": "<PNG>"}]}``, and answers a JSON list holding that image's
``probabilities``, ``class_ids`` and ``class_names``. BentoML's dispatcher merges
concurrent requests' ``instances`` into one call of up to 32; the call runs the
SavedModel's ``serving_bytes`` signature (encoded images in every visionops export),
which decodes and resizes the PNGs inside the graph, as ``visionops serve`` does.

Set by the benchmark, in the environment: ``PEER_MODEL_DIR`` (the SavedModel folder),
``PEER_INTRA_OP_THREADS`` (0: TensorFlow's choice) and ``PEER_MAX_LATENCY_MS``.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import bentoml

MAX_BATCH_SIZE = 32
# BentoML's max_latency_ms is no batch window but a deadline: a request that has waited
# longer, or that the dispatcher predicts would, is dropped with 503. The window itself
# adapts to the measured cost of a batch. At concurrency 32 on two CPUs, 100 ms dropped
# requests; 1000 ms and BentoML's default (60000) served the same requests/s.
MAX_LATENCY_MS = int(os.environ.get("PEER_MAX_LATENCY_MS", "1000"))


@bentoml.service(
    workers=1,
    # No log line per request: visionops writes none either (access_log=False).
    logging={"access": {"enabled": False}},
)
class Classifier:
    """The SavedModel's default signature, one merged call per batch."""

    def __init__(self) -> None:
        import tensorflow as tf

        threads = int(os.environ.get("PEER_INTRA_OP_THREADS", "0"))
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        self._tf = tf
        loaded = tf.saved_model.load(os.environ["PEER_MODEL_DIR"])
        self._loaded = loaded  # the signature holds only a weak reference to its variables
        self._signature = loaded.signatures["serving_bytes"]
        blank = tf.io.encode_png(tf.zeros([1, 1, 1], tf.uint8)).numpy()
        self._signature(image_bytes=tf.constant([blank]))  # one-off setup costs, before traffic

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_SIZE, max_latency_ms=MAX_LATENCY_MS)
    def predict(self, instances: list[dict[str, str]]) -> list[dict[str, Any]]:
        """One prediction for each ``{"b64": ...}`` PNG, in order."""
        encoded = [base64.b64decode(instance["b64"]) for instance in instances]
        outputs = self._signature(image_bytes=self._tf.constant(encoded))
        probabilities = outputs["probabilities"].numpy().tolist()
        class_ids = outputs["class_ids"].numpy().tolist()
        class_names = [name.decode() for name in outputs["class_names"].numpy()]
        return [
            {"probabilities": row, "class_ids": class_id, "class_names": name}
            for row, class_id, name in zip(probabilities, class_ids, class_names, strict=True)
        ]
