"""An :class:`ImageDataset` stored as one NPZ file, read back without unpickling."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset

from visionops.image_dataset import NPZ_KEYS, OPTIONAL_NPZ_KEYS, ImageDataset


class ImageDatasetFile(AbstractDataset[ImageDataset, ImageDataset]):
    """Saves and loads an :class:`ImageDataset` as an uncompressed NPZ file.

    The file is written beside its target and renamed into place, so a reader never
    sees half a file and a failed run leaves the previous file as it was.
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        """Creates the dataset.

        Args:
            filepath: Where the NPZ file lives.
            metadata: Free-form metadata, ignored by Kedro.
        """
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> ImageDataset:
        with np.load(self._filepath, allow_pickle=False) as archive:
            keys = [*NPZ_KEYS, *(key for key in OPTIONAL_NPZ_KEYS if key in archive.files)]
            return ImageDataset.from_arrays({key: archive[key] for key in keys})

    def save(self, data: ImageDataset) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=self._filepath.parent, prefix=f".{self._filepath.name}.", suffix=".npz"
        )
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, **data.to_arrays())
            os.replace(temporary, self._filepath)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
