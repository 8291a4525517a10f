"""Reads a dataset version: its index, its metadata, and its images a chunk at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from visionops.dataplane.images import decode_stored
from visionops.dataplane.layout import INDEX_FILE, SHARDS_DIR, DatasetMeta
from visionops.dataplane.records import decode_example, read_framed
from visionops.dataplane.writer import THUMBNAILS_FILE
from visionops.errors import SourceError
from visionops.image_dataset import ImageDataset


class ShardedDataset:
    """One dataset version on disk (see :mod:`visionops.dataplane.layout`).

    Opening it reads ``dataset.json`` only; the index is read on first use, and
    images only when asked for, a chunk at a time.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.meta = DatasetMeta.read(self.folder)
        self._index: pd.DataFrame | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.meta.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(side) for side in self.meta.image_shape)  # type: ignore[return-value]

    def __len__(self) -> int:
        return int(self.meta.images)

    @property
    def index(self) -> pd.DataFrame:
        """One row per image (see :data:`visionops.dataplane.layout.INDEX_COLUMNS`)."""
        if self._index is None:
            self._index = self.read_index()
        return self._index

    def read_index(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The index, or some of its columns."""
        try:
            table = pq.read_table(
                self.folder / INDEX_FILE, columns=list(columns) if columns else None
            )
        except (OSError, ValueError) as error:
            raise SourceError(f"cannot read the index of {self.folder}: {error}") from error
        return table.to_pandas()

    @property
    def labels(self) -> np.ndarray:
        return self.index["label"].to_numpy(dtype=np.int64)

    def shard_files(self) -> list[Path]:
        """The shard files, in order."""
        return [self.folder / SHARDS_DIR / name for name in self.meta.shards]

    def thumbnails(self) -> np.ndarray:
        """``[N, 256]`` float16 gray thumbnails (NaN for unreadable images), memory-mapped."""
        return np.load(self.folder / THUMBNAILS_FILE, mmap_mode="r")

    def read_images(self, rows: Sequence[int]) -> np.ndarray:
        """The pixels of the index rows ``rows`` (readable ones), in that order; an
        unreadable row's image is all zeros."""
        index = self.index
        shape = self.image_shape
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        images = np.zeros((len(rows), *shape), dtype=np.dtype(self.meta.dtype))
        readable = index["readable"].to_numpy(dtype=bool)[rows]
        shards = index["shard"].to_numpy()[rows]
        offsets = index["offset"].to_numpy()[rows]
        lengths = index["length"].to_numpy()[rows]
        files = self.shard_files()
        # Read shard by shard, in file order (sequential reads); place in ``rows`` order.
        order = np.lexsort((offsets, shards))
        handle, open_shard = None, -1
        try:
            for slot in order[readable[order]].tolist():
                shard = int(shards[slot])
                if shard != open_shard:
                    if handle is not None:
                        handle.close()
                    handle, open_shard = files[shard].open("rb"), shard
                where = f"{files[shard]} ({index['source_id'].iat[int(rows[slot])]})"
                record = read_framed(handle, int(offsets[slot]), int(lengths[slot]), where)
                image, _, encoding = decode_example(record)
                pixels = decode_stored(image, encoding, shape, self.meta.dtype)
                if pixels.shape != shape:
                    raise SourceError(
                        f"{index['source_id'].iat[int(rows[slot])]} is {pixels.shape}, not the "
                        f"dataset's {shape}"
                    )
                images[slot] = pixels
        finally:
            if handle is not None:
                handle.close()
        return images

    def iter_chunks(
        self, chunk_size: int = 1024, rows: np.ndarray | None = None
    ) -> Iterator[tuple[np.ndarray, ImageDataset]]:
        """The images of ``rows`` (default: every readable row), ``chunk_size`` at a
        time, as ``(row numbers, ImageDataset)``: memory holds one chunk."""
        index = self.index
        if rows is None:
            rows = np.flatnonzero(index["readable"].to_numpy(dtype=bool))
        labels = index["label"].to_numpy(dtype=np.int64)
        source_ids = index["source_id"].to_numpy(dtype=object)
        for start in range(0, len(rows), chunk_size):
            chunk = rows[start : start + chunk_size]
            yield (
                chunk,
                ImageDataset(
                    images=self.read_images(chunk),
                    labels=labels[chunk],
                    class_names=self.class_names,
                    source_ids=source_ids[chunk].astype(str),
                ),
            )

    def to_memory(self) -> ImageDataset:
        """Every readable image at once: for small datasets and tests only."""
        rows = np.flatnonzero(self.index["readable"].to_numpy(dtype=bool))
        return ImageDataset(
            images=self.read_images(rows),
            labels=self.labels[rows],
            class_names=self.class_names,
            source_ids=self.index["source_id"].to_numpy(dtype=str)[rows],
        )
