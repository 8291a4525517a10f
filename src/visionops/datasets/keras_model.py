"""A Keras model stored as one .keras file whose bytes depend only on the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
from kedro.io import AbstractDataset

from visionops.modeling.saving import load_model, save_model_deterministic


class KerasModelDataset(AbstractDataset[keras.Model, keras.Model]):
    """Saves and loads a Keras model in Keras's .keras format.

    Unlike kedro-datasets' ``TensorFlowModelDataset``, saving the same model twice
    writes the same bytes (no save time inside), so DVC sees an unchanged model as
    unchanged. The file is renamed into place, so a reader never sees half of it.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        """Creates the dataset.

        Args:
            filepath: Where the .keras file lives.
            metadata: Free-form metadata, ignored by Kedro.

        Raises:
            ValueError: ``filepath`` does not end in ``.keras``.
        """
        self._filepath = Path(filepath)
        if self._filepath.suffix != ".keras":
            raise ValueError(
                f"KerasModelDataset filepath {filepath!r} must end in .keras; "
                "change it in conf/base/catalog.yml"
            )
        self.metadata = metadata

    def load(self) -> keras.Model:
        return load_model(self._filepath)

    def save(self, data: keras.Model) -> None:
        save_model_deterministic(data, self._filepath)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
