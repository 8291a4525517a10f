"""Export of a trained Keras model as a SavedModel that takes raw uint8 images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

SERVING_SIGNATURE = "serving_default"
INPUT_NAME = "images"
BYTES_SIGNATURE = "serving_bytes"
BYTES_INPUT_NAME = "image_bytes"
OUTPUT_KEYS = ("probabilities", "class_ids", "class_names")


def export_saved_model(
    model: keras.Model, class_names: Sequence[str], image_shape: Sequence[int], path: Path
) -> None:
    """Writes ``model`` as a SavedModel with two signatures.

    ``serving_default`` takes uint8 images ``[N, H, W, C]`` under the input name
    ``images``; ``serving_bytes`` takes encoded PNG or JPEG files ``[N]`` (tf.string)
    under ``image_bytes`` (the ``_bytes`` suffix tells TensorFlow Serving's REST API
    to expect ``{"b64": ...}``), decodes them to the model's channels and resizes them
    to its height and width (bilinear). Both return class ``probabilities``,
    ``class_ids`` and ``class_names``. Scaling is part of the Keras model, so serving
    applies the same preprocessing as training.

    Args:
        model: A Keras model mapping float images to class probabilities.
        class_names: Name of each class, in label order.
        image_shape: Height, width and channels of the images the model takes.
        path: Folder to write; it must not exist yet.
    """
    names = tf.constant(list(class_names), dtype=tf.string)
    archive = keras.export.ExportArchive()
    archive.track(model)

    @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.uint8, name=INPUT_NAME)])
    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.cast(model(tf.cast(images, tf.float32), training=False), tf.float32)
        class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "class_ids": class_ids,
            "class_names": tf.gather(names, class_ids),
        }

    height, width, channels = image_shape

    def decode(encoded: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
        resized = tf.image.resize(image, (height, width), method="bilinear")
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_INPUT_NAME)])
    def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        images = tf.map_fn(
            decode, image_bytes, fn_output_signature=tf.TensorSpec(image_shape, tf.uint8)
        )
        return serve(images)

    archive.add_endpoint(SERVING_SIGNATURE, serve)
    archive.add_endpoint(BYTES_SIGNATURE, serve_bytes)
    archive.write_out(str(path), verbose=False)
