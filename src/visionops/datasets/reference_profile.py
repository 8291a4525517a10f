"""The drift reference: the production model's data profile, or a pinned file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from visionops.validation.reference import load_reference


class ReferenceProfileDataset(AbstractDataset[None, dict[str, Any] | None]):
    """Loads the data profile that incoming data is compared with for drift.

    The reference is the profile stored with the model version labelled production
    in the registry; when there is none, the pinned file (written by
    ``visionops validate --init-suite``); when neither exists, None. Loading returns
    ``{"origin": "registry:<model>/<version>" or "file:<path>", "profile": {...}}``.
    Read-only.
    """

    def __init__(
        self,
        registry: str,
        model_name: str,
        pinned: str,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates the dataset.

        Args:
            registry: The registry's root folder.
            model_name: The model whose production version holds the reference.
            pinned: The pinned reference file, used when no version is in production.
            metadata: Free-form metadata, ignored by Kedro.
        """
        self._registry = Path(registry)
        self._model_name = model_name
        self._pinned = Path(pinned)
        self.metadata = metadata

    def load(self) -> dict[str, Any] | None:
        return load_reference(self._registry, self._model_name, self._pinned)

    def save(self, data: None) -> None:
        raise NotImplementedError("the drift reference is read-only")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {
            "registry": str(self._registry),
            "model_name": self._model_name,
            "pinned": str(self._pinned),
        }
