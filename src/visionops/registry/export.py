"""Export of a trained Keras model as a SavedModel that takes encoded images or uint8 arrays.

The signature layout, and why the default one takes encoded images, is described in
:mod:`visionops.registry.signature_names`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

from visionops.registry.signature_names import (
    BYTES_INPUT,
    BYTES_SIGNATURE,
    CLASS_IDS,
    CLASS_NAMES,
    DEFAULT_SIGNATURE,
    PROBABILITIES,
    UINT8_INPUT,
    UINT8_SIGNATURE,
)

# Encoded images decoded per loop step in the encoded-image signatures (see _decode_all).
DECODE_CHUNK = 8


def export_saved_model(
    model: keras.Model, class_names: Sequence[str], image_shape: Sequence[int], path: Path
) -> None:
    """Writes ``model`` as a SavedModel with three signatures.

    ``serving_default`` and ``serving_bytes`` take encoded PNG or JPEG files (GIF and
    BMP too for 3-channel models) ``[N]`` (tf.string) under ``image_bytes``, decode
    them to the model's channels and resize them to its height and width (bilinear);
    ``serving_uint8`` takes uint8 images ``[N, H, W, C]`` under ``images``. All return
    class ``probabilities``, ``class_ids`` and ``class_names``. Scaling is part of the
    Keras model, so serving applies the same preprocessing as training.

    Args:
        model: A Keras model mapping float images to class probabilities.
        class_names: Name of each class, in label order.
        image_shape: Height, width and channels of the images the model takes.
        path: Folder to write; it must not exist yet.
    """
    names = tf.constant(list(class_names), dtype=tf.string)
    archive = keras.export.ExportArchive()
    archive.track(model)

    @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.uint8, name=UINT8_INPUT)])
    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.cast(model(tf.cast(images, tf.float32), training=False), tf.float32)
        class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            PROBABILITIES: probabilities,
            CLASS_IDS: class_ids,
            CLASS_NAMES: tf.gather(names, class_ids),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_INPUT)])
    def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        return serve(_decode_all(image_bytes, tuple(image_shape)))

    archive.add_endpoint(DEFAULT_SIGNATURE, serve_bytes)
    archive.add_endpoint(BYTES_SIGNATURE, serve_bytes)
    archive.add_endpoint(UINT8_SIGNATURE, serve)
    archive.write_out(str(path), verbose=False)


def _decode_all(encoded: tf.Tensor, image_shape: tuple[int, int, int]) -> tf.Tensor:
    """Encoded images ``[N]`` as uint8 images ``[N, H, W, C]``, each decoded and resized.

    TensorFlow decodes one image per op, so this is a loop, and a loop step costs more
    than decoding and resizing one small image. A batch of at least ``DECODE_CHUNK``
    images is therefore decoded ``DECODE_CHUNK`` per step (padded with copies of its
    first image, which are dropped after), a third of the time for 32 digits-sized
    PNGs; a smaller one, such as the single image of an unbatched request, one per step.
    """
    height, width, channels = image_shape
    count = tf.shape(encoded)[0]

    def decode(one: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(one, channels=channels, expand_animations=False)
        resized = tf.image.resize(image, (height, width), method="bilinear")
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    def decode_chunk(chunk: tf.Tensor) -> tf.Tensor:
        return tf.stack([decode(chunk[index]) for index in range(DECODE_CHUNK)])

    def one_per_step() -> tf.Tensor:
        return tf.map_fn(decode, encoded, fn_output_signature=tf.TensorSpec(image_shape, tf.uint8))

    def chunk_per_step() -> tf.Tensor:
        padding = tf.repeat(encoded[:1], (-count) % DECODE_CHUNK)
        chunks = tf.reshape(tf.concat([encoded, padding], 0), [-1, DECODE_CHUNK])
        images = tf.map_fn(
            decode_chunk,
            chunks,
            fn_output_signature=tf.TensorSpec((DECODE_CHUNK, *image_shape), tf.uint8),
        )
        return tf.reshape(images, [-1, *image_shape])[:count]

    return tf.cond(count < DECODE_CHUNK, one_per_step, chunk_per_step)
