"""Writes one dataset version: shards, index and ``dataset.json``, all or nothing.

Records are appended in order; a shard closes after ``images_per_shard`` rows. Every
file goes into a hidden folder beside the target, which replaces the target only when
complete: a reader never sees half a dataset, and a failed run leaves the previous
version as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from visionops.dataplane.layout import (
    INDEX_FILE,
    META_FILE,
    SHARDS_DIR,
    DatasetMeta,
    shard_name,
)
from visionops.dataplane.records import FOOTER_BYTES, HEADER_BYTES, encode_example, frame

THUMBNAILS_FILE = "thumbnails.npy"
DEFAULT_IMAGES_PER_SHARD = 2048


class ShardWriter:
    """Builds a dataset version at ``target``.

    Args:
        target: The dataset folder to (re)place.
        class_names: Name of each class, in label order.
        images_per_shard: Rows per shard (unreadable rows count, though they store
            no record), so that shard boundaries follow the index alone.
    """

    def __init__(
        self, target: Path, class_names: list[str], images_per_shard: int = DEFAULT_IMAGES_PER_SHARD
    ) -> None:
        if images_per_shard < 1:
            raise ValueError(f"images_per_shard must be >= 1; got {images_per_shard}")
        self.target = Path(target)
        self.class_names = list(class_names)
        self.images_per_shard = images_per_shard
        self.staging = self.target.parent / f".{self.target.name}.{uuid.uuid4().hex[:8]}"
        (self.staging / SHARDS_DIR).mkdir(parents=True)
        self._rows: list[dict[str, Any]] = []
        self._thumbnails: list[np.ndarray] = []
        self._histogram: np.ndarray | None = None
        self._dtypes: Counter[str] = Counter()
        self._stream: Any = None
        self._shard = -1
        self._offset = 0
        self._position = 0

    def _open_shard(self, number: int) -> None:
        if self._stream is not None:
            self._stream.close()
        self._shard = number
        self._stream = (self.staging / SHARDS_DIR / f"{number:05d}.part").open("wb")
        self._offset = 0
        self._position = 0

    def add(
        self,
        row: dict[str, Any],
        image: bytes,
        encoding: str,
        histogram: np.ndarray | None,
        thumbnail: np.ndarray | None,
    ) -> None:
        """Appends one image: its record (when readable) and its index row.

        Args:
            row: The index columns other than shard, position, offset, length and
                encoding; ``label`` indexes the class names.
            image: The stored image's bytes (empty when unreadable).
            encoding: How ``image`` is encoded.
            histogram: ``[channels, 256]`` uint8 value counts, added to the dataset's.
            thumbnail: The 16x16 gray thumbnail, for near-duplicate checks.
        """
        shard = len(self._rows) // self.images_per_shard
        if shard != self._shard:
            self._open_shard(shard)
        row = dict(row, class_name=self.class_names[row["label"]], shard=shard)
        if row.get("readable"):
            record = encode_example(image, int(row["label"]), encoding)
            self._stream.write(frame(record))
            row.update(position=self._position, offset=self._offset, length=len(record))
            row["encoding"] = encoding
            self._offset += HEADER_BYTES + len(record) + FOOTER_BYTES
            self._position += 1
            self._dtypes[str(row.get("dtype"))] += 1
            if histogram is not None:
                self._histogram = (
                    histogram.astype(np.int64)
                    if self._histogram is None
                    else self._histogram + histogram
                )
        else:
            row.update(position=-1, offset=-1, length=0, encoding="")
        self._rows.append(row)
        self._thumbnails.append(
            thumbnail if thumbnail is not None else np.full(256, np.nan, dtype=np.float16)
        )

    def finish(self, source: dict[str, Any]) -> DatasetMeta:
        """Names the shards, writes the index and ``dataset.json``, and puts the folder
        in place of ``target``.

        Args:
            source: What was ingested, kept in ``dataset.json``.
        """
        if self._stream is not None:
            self._stream.close()
        count = self._shard + 1
        names = []
        for number in range(count):
            name = shard_name(number, count)
            os.replace(
                self.staging / SHARDS_DIR / f"{number:05d}.part", self.staging / SHARDS_DIR / name
            )
            names.append(name)
        write_index(self._rows, self.staging / INDEX_FILE)
        np.save(
            self.staging / THUMBNAILS_FILE,
            np.asarray(self._thumbnails, dtype=np.float16).reshape(-1, 256),
        )
        readable = [row for row in self._rows if row.get("readable")]
        shapes = Counter((row["height"], row["width"], row["channels"]) for row in readable)
        dtype = self._dtypes.most_common(1)[0][0] if self._dtypes else "uint8"
        meta = DatasetMeta(
            class_names=self.class_names,
            image_shape=list(shapes.most_common(1)[0][0]) if shapes else [0, 0, 0],
            dtype=dtype,
            images=len(self._rows),
            shards=names,
            histograms=None
            if self._histogram is None or dtype != "uint8"
            else self._histogram.tolist(),
            source=source,
        )
        (self.staging / META_FILE).write_text(meta.to_json())
        replace_folder(self.staging, self.target)
        return meta

    def abort(self) -> None:
        """Removes what was written; ``target`` stays as it was."""
        if self._stream is not None:
            self._stream.close()
        shutil.rmtree(self.staging, ignore_errors=True)


def write_index(rows: list[dict[str, Any]], path: Path) -> None:
    """Writes index rows as Parquet, columns in a fixed order, deterministically."""
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, [])
    table = {key: [row.get(key) for row in rows] for key in sorted(columns)}
    pq.write_table(
        pa.table(table) if rows else pa.table({"source_id": pa.array([], pa.string())}),
        path,
        compression="zstd",
        write_statistics=False,
        store_schema=True,
    )


def replace_folder(staging: Path, target: Path) -> None:
    """Puts ``staging`` where ``target`` is, removing the old folder (or file) after."""
    retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    if target.is_dir() and not target.is_symlink():
        os.replace(target, retired)
    elif target.exists() or target.is_symlink():
        target.unlink()
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)
