"""Class probabilities from a trained model, streamed from a split batch by batch."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from visionops.dataplane.reader import ShardedDataset
from visionops.modeling.inputs import image_batches, readable_count


def predict_probabilities(model: keras.Model, split: ShardedDataset, batch_size: int) -> np.ndarray:
    """Class probabilities ``[N, classes]`` for every readable image of ``split``, in
    index order; memory holds a few batches of images, never the split.

    Raises:
        SourceError: The split's records cannot be decoded.
    """
    if readable_count(split) == 0:
        return np.empty((0, int(model.output_shape[-1])), dtype=np.float32)
    data = image_batches(split, batch_size).map(lambda images: tf.cast(images, tf.float32))
    return np.asarray(model.predict(data, verbose=0))
