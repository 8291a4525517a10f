"""Export of a trained Keras model as a SavedModel that takes raw uint8 images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

SERVING_SIGNATURE = "serving_default"
INPUT_NAME = "images"
OUTPUT_KEYS = ("probabilities", "class_ids", "class_names")


def export_saved_model(
    model: keras.Model, class_names: Sequence[str], image_shape: Sequence[int], path: Path
) -> None:
    """Writes ``model`` as a SavedModel with a ``serving_default`` signature.

    The signature takes uint8 images ``[N, H, W, C]`` under the input name ``images``
    and returns class ``probabilities``, ``class_ids`` and ``class_names``. Scaling is
    part of the Keras model, so serving applies the same preprocessing as training.

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

    archive.add_endpoint(SERVING_SIGNATURE, serve)
    archive.write_out(str(path), verbose=False)
