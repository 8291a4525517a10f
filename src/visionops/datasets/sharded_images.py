"""A dataset version folder (shards + index) as a Kedro dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from kedro.io import AbstractDataset

from visionops.dataplane.cache import IngestCache
from visionops.dataplane.layout import META_FILE
from visionops.dataplane.reader import ShardedDataset


class DatasetBuild(Protocol):
    """What a node returns for a dataset version: how to write it (ingestion, a split)."""

    def write(self, target: Path, **options: Any) -> Any: ...


class ShardedImagesDataset(AbstractDataset[DatasetBuild, ShardedDataset]):
    """Loads a dataset version as a :class:`ShardedDataset` (nothing decoded until
    asked); saves one by running the build a node returned, which writes the folder
    shard by shard and puts it in place only when complete.

    Args:
        path: The dataset folder.
        cache: For ingestion: the cache of work done per source file
            (:mod:`visionops.dataplane.cache`), so that a grown folder re-ingests only
            its new files. None for no cache.
        metadata: Free-form metadata, ignored by Kedro.
    """

    def __init__(
        self, path: str, cache: str | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        self._path = Path(path)
        self._cache = Path(cache) if cache else None
        self.metadata = metadata

    def load(self) -> ShardedDataset:
        return ShardedDataset(self._path)

    def save(self, data: DatasetBuild) -> None:
        if self._cache is not None:
            data.write(self._path, cache=IngestCache(self._cache, writable=True))
        else:
            data.write(self._path)

    def _exists(self) -> bool:
        return (self._path / META_FILE).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "cache": None if self._cache is None else str(self._cache)}
