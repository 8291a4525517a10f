"""The model registry as a Kedro dataset: load a snapshot, save a registration."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from visionops.registry.layout import snapshot
from visionops.registry.store import Declined, Registration, register, registered_weights

logger = logging.getLogger(__name__)


class ModelRegistryDataset(AbstractDataset[Registration | Declined, dict[str, Any]]):
    """A registry folder laid out as TensorFlow Serving reads it.

    Loading returns a plain snapshot, ``{model: {"versions": [...], "labels": {...},
    "weights": {version: sha256}}}``,
    so nodes can decide what to register without touching the file system. Saving a
    :class:`Registration` exports and registers a new version; saving a
    :class:`Declined` registers nothing and leaves the registry as it was.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        """Creates the dataset.

        Args:
            path: The registry's root folder.
            metadata: Free-form metadata, ignored by Kedro.
        """
        self._root = Path(path)
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        models = snapshot(self._root)
        for name, entry in models.items():
            entry["weights"] = registered_weights(self._root, name)
        return models

    def save(self, data: Registration | Declined) -> None:
        if isinstance(data, Registration):
            register(self._root, data)
        else:
            logger.warning("Registered nothing in %s: %s", self._root, data.reason)

    def _exists(self) -> bool:
        return self._root.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._root)}
