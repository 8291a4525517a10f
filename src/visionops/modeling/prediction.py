"""Class probabilities from a trained model, batch by batch."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from visionops.image_dataset import ImageDataset


def predict_probabilities(model: keras.Model, split: ImageDataset, batch_size: int) -> np.ndarray:
    """Class probabilities ``[N, classes]`` for every image of ``split``, in order."""
    data = (
        tf.data.Dataset.from_tensor_slices(split.images)
        .batch(batch_size)
        .map(lambda images: tf.cast(images, tf.float32))
        .prefetch(tf.data.AUTOTUNE)
    )
    return np.asarray(model.predict(data, verbose=0))
