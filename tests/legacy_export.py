"""SavedModels in the layout visionops exported before ``serving_default`` took encoded images.

Registries hold such versions: uint8 ``images`` on ``serving_default``, encoded images
on ``serving_bytes``, nothing else. The server and evaluation must keep using them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

from visionops.registry.export import _decode_all
from visionops.registry.signature_names import (
    BYTES_INPUT,
    BYTES_SIGNATURE,
    DEFAULT_SIGNATURE,
    UINT8_INPUT,
)


def export_legacy_saved_model(
    model: keras.Model, class_names: Sequence[str], image_shape: Sequence[int], path: Path
) -> None:
    """Writes ``model`` as a SavedModel of the earlier layout, with its two signatures."""
    names = tf.constant(list(class_names), dtype=tf.string)
    archive = keras.export.ExportArchive()
    archive.track(model)

    @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.uint8, name=UINT8_INPUT)])
    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.cast(model(tf.cast(images, tf.float32), training=False), tf.float32)
        class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "class_ids": class_ids,
            "class_names": tf.gather(names, class_ids),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_INPUT)])
    def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        return serve(_decode_all(image_bytes, tuple(image_shape)))

    archive.add_endpoint(DEFAULT_SIGNATURE, serve)
    archive.add_endpoint(BYTES_SIGNATURE, serve_bytes)
    archive.write_out(str(path), verbose=False)
