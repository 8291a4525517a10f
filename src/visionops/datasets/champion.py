"""The model in production, loaded from the registry to be scored against a candidate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset

from visionops.registry.layout import LINEAGE_FILE, PRODUCTION, read_labels, version_dir
from visionops.registry.signature_names import (
    PROBABILITIES,
    UINT8_INPUT,
    uint8_signature_name,
)


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
        import tensorflow as tf

        parts = [
            self.signature(**{UINT8_INPUT: tf.constant(images[start : start + batch_size])})[
                PROBABILITIES
            ].numpy()
            for start in range(0, len(images), batch_size)
        ]
        return np.concatenate(parts) if parts else np.empty((0, 0), dtype=np.float32)


class ProductionModelDataset(AbstractDataset[None, ProductionModel | None]):
    """Loads the version labelled production of one model, or None when there is none.
    Read-only: the registry is written only by the deployment stage."""

    def __init__(self, registry: str, model_name: str, metadata: dict[str, Any] | None = None):
        self._registry = Path(registry)
        self._model_name = model_name
        self.metadata = metadata

    def load(self) -> ProductionModel | None:
        version = read_labels(self._registry).get(self._model_name, {}).get(PRODUCTION)
        if version is None:
            return None
        import tensorflow as tf

        folder = version_dir(self._registry, self._model_name, version)
        signatures = tf.saved_model.load(str(folder)).signatures
        signature = signatures[uint8_signature_name(signatures)]
        spec = signature.structured_input_signature[1][UINT8_INPUT]
        lineage_path = folder / LINEAGE_FILE
        lineage = json.loads(lineage_path.read_text()) if lineage_path.is_file() else {}
        return ProductionModel(
            version=version,
            image_shape=tuple(int(side) for side in spec.shape[1:]),
            class_names=tuple(lineage.get("class_names", ())),
            signature=signature,
        )

    def save(self, data: None) -> None:
        raise NotImplementedError("the production model is read-only here")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"registry": str(self._registry), "model_name": self._model_name}
