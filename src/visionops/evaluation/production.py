"""The model in production, as evaluation scores it: a SavedModel signature on uint8 images."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from visionops.registry.signature_names import PROBABILITIES, UINT8_INPUT


@dataclass(frozen=True)
class ProductionModel:
    """The production version's SavedModel, callable on uint8 images.

    Attributes:
        version: Its version number.
        image_shape: Height, width and channels its signature takes.
        class_names: Its classes, from its lineage record (empty when unrecorded).
        signature: The concrete function of its signature taking uint8 images:
            ``serving_uint8``, or ``serving_default`` in a version exported before it.
    """

    version: int
    image_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    signature: Any

    def predict(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class probabilities ``[N, classes]`` for uint8 images ``[N, H, W, C]``."""
        return self.predict_batches(
            images[start : start + batch_size] for start in range(0, len(images), batch_size)
        )

    def predict_batches(self, batches: Iterable[Any]) -> np.ndarray:
        """Class probabilities ``[N, classes]`` for batches of uint8 images (arrays, or a
        ``tf.data`` dataset of ``[B, H, W, C]`` tensors), in order, one batch in memory
        at a time."""
        import tensorflow as tf

        parts = [
            self.signature(**{UINT8_INPUT: tf.convert_to_tensor(batch)})[PROBABILITIES].numpy()
            for batch in batches
        ]
        return np.concatenate(parts) if parts else np.empty((0, 0), dtype=np.float32)
