"""A read-only dataset over a data source chosen by the ingestion parameters."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError

from visionops.sources import SourceImages, open_source


class ImageSourceDataset(AbstractDataset[None, SourceImages]):
    """Lists the images of a source: ``digits``, ``image_folder``, ``cifar10`` or ``npz``.

    The source is a parameter (``ingestion.source``, ``ingestion.path``) rather than a
    catalog entry, so that ``kedro run --params`` and ``dvc exp run -S`` can change it;
    :class:`visionops.hooks.SourceDatasetHook` builds this dataset from them. Loading
    lists an image folder's files without reading them.
    """

    def __init__(
        self, source: str, path: str | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        """Creates the dataset.

        Args:
            source: Kind of source, one of :data:`visionops.sources.SOURCES`.
            path: The source's file or folder (ignored for ``digits``).
            metadata: Free-form metadata, ignored by Kedro.
        """
        self._source = source
        self._path = path
        self.metadata = metadata

    def load(self) -> SourceImages:
        return open_source(self._source, self._path)

    def save(self, data: None) -> None:
        raise DatasetError("a data source is read-only; ingestion writes 'raw_dataset' instead")

    def _describe(self) -> dict[str, Any]:
        return {"source": self._source, "path": self._path}
