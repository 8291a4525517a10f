"""The model in production, loaded from the registry to be scored against a candidate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from visionops.evaluation.production import ProductionModel
from visionops.registry.layout import LINEAGE_FILE, PRODUCTION, read_labels, version_dir
from visionops.registry.signature_names import UINT8_INPUT, uint8_signature_name

__all__ = ["ProductionModel", "ProductionModelDataset"]


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
