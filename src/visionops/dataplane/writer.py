"""Writes one dataset version: shards, index and ``dataset.json``, all or nothing.

Records are appended in order; a shard closes after ``images_per_shard`` rows, or at
the boundaries given. Every
file goes into a hidden folder beside the target, which replaces the target only when
complete: a reader never sees half a dataset, and a failed run leaves the previous
version as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from visionops.dataplane.images import STAT_COLUMNS
from visionops.dataplane.layout import (
    INDEX_COLUMNS,
    INDEX_FILE,
    META_FILE,
    SHARDS_DIR,
    DatasetMeta,
    link_or_copy,
    shard_name,
)
from visionops.dataplane.records import framed_example

THUMBNAILS_FILE = "thumbnails.npy"
# The columns of an empty dataset's index (a dataset with images has those its rows
# have: the per-channel statistics too), and their types where not strings.
_EMPTY_COLUMNS = (*INDEX_COLUMNS, "dtype", *STAT_COLUMNS)
_EMPTY_TYPES = {
    **dict.fromkeys(
        (
            "label",
            "shard",
            "position",
            "offset",
            "length",
            "height",
            "width",
            "channels",
            "source_height",
            "source_width",
            "source_channels",
        ),
        pa.int64(),
    ),
    **dict.fromkeys(("readable", "finite"), pa.bool_()),
    **dict.fromkeys(("min", "max", "mean", "std", "saturated_share"), pa.float64()),
}
THUMBNAIL_VALUES = 256
DEFAULT_IMAGES_PER_SHARD = 2048


class ShardWriter:
    """Builds a dataset version at ``target``.

    Memory holds the index (as Arrow columns) and nothing of the images: records go
    to the open shard file as they come, thumbnails to a file beside it.

    Args:
        target: The dataset folder to (re)place.
        class_names: Name of each class, in label order.
        images_per_shard: Rows per shard (unreadable rows count, though they store
            no record), so that shard boundaries follow the index alone.
        bounds: Each shard's ``(start, stop)`` rows instead, in order and adjoining
            (:func:`visionops.dataplane.reuse.shard_bounds`).
    """

    def __init__(
        self,
        target: Path,
        class_names: list[str],
        images_per_shard: int = DEFAULT_IMAGES_PER_SHARD,
        bounds: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        if images_per_shard < 1:
            raise ValueError(f"images_per_shard must be >= 1; got {images_per_shard}")
        self.target = Path(target)
        self.class_names = list(class_names)
        self.images_per_shard = images_per_shard
        self._stops = None if bounds is None else [stop for _, stop in bounds]
        self.staging = self.target.parent / f".{self.target.name}.{uuid.uuid4().hex[:8]}"
        (self.staging / SHARDS_DIR).mkdir(parents=True)
        self._thumbnails = (self.staging / f"{THUMBNAILS_FILE}.part").open("wb")
        self._pending: list[dict[str, list[Any]]] = []  # columns of the open shard
        self._tables: list[pa.Table] = []  # rows of the closed shards
        self._count = 0
        self._histogram: np.ndarray | None = None
        self._dtypes: Counter[str] = Counter()
        self._shapes: Counter[tuple[int, int, int]] = Counter()
        self._stream: Any = None
        self._shard = -1
        self._offset = 0
        self._position = 0

    def __len__(self) -> int:
        """Rows added so far."""
        return self._count

    def _shard_stop(self, shard: int) -> int:
        """The row after the last of shard ``shard``."""
        if self._stops is None:
            return (shard + 1) * self.images_per_shard
        if shard >= len(self._stops):
            raise ValueError(f"more rows than the {len(self._stops)} shard(s) given hold")
        return self._stops[shard]

    def _open_shard(self, number: int) -> None:
        self._close_shard()
        self._shard = number
        self._stream = (self.staging / SHARDS_DIR / f"{number:05d}.part").open("wb")
        self._offset = 0
        self._position = 0

    def _close_shard(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._pending:
            self._tables.append(columns_table(self._pending))
            self._pending = []

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
        thumbnails = np.full((1, THUMBNAIL_VALUES), np.nan, dtype=np.float16)
        if thumbnail is not None:
            thumbnails[0] = np.asarray(thumbnail).reshape(-1)
        self.add_many([row], [image], [encoding], histogram, thumbnails)

    def add_many(
        self,
        rows: Sequence[dict[str, Any]],
        images: Sequence[bytes],
        encodings: Sequence[str],
        histogram: np.ndarray | None,
        thumbnails: np.ndarray,
    ) -> None:
        """Appends several images at once, in order.

        Args:
            rows: Each image's index columns, as for :meth:`add`.
            images: Each image's stored bytes (empty when unreadable).
            encodings: How each image is encoded.
            histogram: ``[channels, 256]`` uint8 value counts of these images together,
                added to the dataset's.
            thumbnails: ``[images, 256]`` gray thumbnails (NaN rows where unreadable).
        """
        keys: dict[str, None] = {}
        for row in rows:
            keys.update(dict.fromkeys(row))
        columns = {key: [row.get(key) for row in rows] for key in keys}
        self.add_columns(columns, images, encodings, histogram, thumbnails, len(rows))

    def add_columns(
        self,
        columns: dict[str, Sequence[Any]],
        images: Sequence[bytes],
        encodings: Sequence[str],
        histogram: np.ndarray | None,
        thumbnails: np.ndarray,
        count: int | None = None,
    ) -> None:
        """Appends several images given as index columns (a shard task's results).

        Args:
            columns: Index columns other than shard, position, offset, length and
                encoding, one value per image; ``label`` and ``readable`` are needed.
            images: Each image's stored bytes (empty when unreadable).
            encodings: How each image is encoded.
            histogram: ``[channels, 256]`` uint8 value counts of these images together.
            thumbnails: ``[images, 256]`` gray thumbnails (NaN rows where unreadable).
            count: Images given (``len(images)`` by default).
        """
        count = len(images) if count is None else count
        sizes = {len(values) for values in columns.values()}
        if sizes - {count} or not len(images) == len(encodings) == len(thumbnails) == count:
            raise ValueError(
                f"{count} rows, {len(images)} images, {len(encodings)} encodings and "
                f"{len(thumbnails)} thumbnails: one of each per image"
            )
        start = 0
        while start < count:
            if self._shard < 0 or self._count >= self._shard_stop(self._shard):
                self._open_shard(self._shard + 1)
            stop = min(count, start + self._shard_stop(self._shard) - self._count)
            chunk = {key: list(values[start:stop]) for key, values in columns.items()}
            chunk.update(self._place(chunk, images[start:stop], encodings[start:stop]))
            self._pending.append(chunk)
            self._count += stop - start
            start = stop
        if histogram is not None:
            self._histogram = (
                histogram.astype(np.int64)
                if self._histogram is None
                else self._histogram + histogram
            )
        self._thumbnails.write(np.ascontiguousarray(thumbnails, dtype=np.float16).tobytes())

    def close_shard(self) -> tuple[Path, pa.Table] | None:
        """Closes the open shard; returns its file (in the staging folder, complete) and
        its index rows, or None where no shard is open."""
        if self._stream is None:
            return None
        self._close_shard()
        return self.staging / SHARDS_DIR / f"{self._shard:05d}.part", self._tables[-1]

    def add_reused(
        self,
        records: Path,
        rows: pa.Table,
        thumbnails: np.ndarray,
        histogram: np.ndarray | None,
    ) -> None:
        """Appends a whole shard written before: its TFRecord file is linked (or copied)
        as the next shard, its index rows taken with the new shard number.

        Raises:
            ValueError: The rows do not fill the next shard's bounds exactly.
        """
        self._close_shard()
        number = self._shard + 1
        start = self._count
        if self._shard_stop(number) - start != rows.num_rows:
            raise ValueError(
                f"a reused shard of {rows.num_rows} rows for shard {number}, which holds "
                f"{self._shard_stop(number) - start}"
            )
        link_or_copy(records, self.staging / SHARDS_DIR / f"{number:05d}.part")
        self._shard = number
        column = rows.column_names.index("shard")
        rows = rows.set_column(column, "shard", pa.array([number] * rows.num_rows, pa.int64()))
        self._tables.append(rows)
        self._count += rows.num_rows
        readable = rows.column("readable").to_pylist()
        dtypes = rows.column("dtype").to_pylist() if "dtype" in rows.column_names else []
        self._dtypes.update(
            str(dtype) for dtype, stored in zip(dtypes, readable, strict=True) if stored
        )
        if {"height", "width", "channels"} <= set(rows.column_names):
            sides = [rows.column(side).to_pylist() for side in ("height", "width", "channels")]
            self._shapes.update(
                (int(height), int(width), int(channels))
                for height, width, channels, stored in zip(*sides, readable, strict=True)
                if stored and None not in (height, width, channels)
            )
        if histogram is not None:
            self._histogram = (
                histogram.astype(np.int64)
                if self._histogram is None
                else self._histogram + histogram
            )
        self._thumbnails.write(np.ascontiguousarray(thumbnails, dtype=np.float16).tobytes())

    def _place(
        self, chunk: dict[str, list[Any]], images: Sequence[bytes], encodings: Sequence[str]
    ) -> dict[str, list[Any]]:
        """Writes the readable images of ``chunk`` (all in the open shard) as records;
        returns their class names and places in the shard."""
        count = len(images)
        missing = [None] * count
        readable = [bool(value) for value in chunk.get("readable") or missing]
        labels = [int(label) for label in chunk["label"]]
        names = self.class_names
        # A label outside the classes is kept, with no class name, for validation.
        placed: dict[str, list[Any]] = {
            "class_name": [names[label] if 0 <= label < len(names) else None for label in labels],
            "shard": [self._shard] * count,
            "position": [],
            "offset": [],
            "length": [],
            "encoding": [],
        }
        positions, offsets, lengths, kinds = (
            placed[name] for name in ("position", "offset", "length", "encoding")
        )
        entries = []
        position, offset = self._position, self._offset
        for image, encoding, label, stored in zip(images, encodings, labels, readable, strict=True):
            if not stored:
                positions.append(-1)
                offsets.append(-1)
                lengths.append(0)
                kinds.append("")
                continue
            entry, length = framed_example(image, label, encoding)
            entries.append(entry)
            positions.append(position)
            offsets.append(offset)
            lengths.append(length)
            kinds.append(encoding)
            position += 1
            offset += len(entry)
        self._position, self._offset = position, offset
        self._stream.write(b"".join(entries))
        dtypes = chunk.get("dtype") or missing
        self._dtypes.update(
            str(dtype) for dtype, stored in zip(dtypes, readable, strict=True) if stored
        )
        sides = [chunk.get(side) or missing for side in ("height", "width", "channels")]
        self._shapes.update(
            (int(height), int(width), int(channels))
            for height, width, channels, stored in zip(*sides, readable, strict=True)
            if stored and None not in (height, width, channels)
        )
        return placed

    def finish(self, source: dict[str, Any]) -> DatasetMeta:
        """Names the shards, writes the index and ``dataset.json``, and puts the folder
        in place of ``target``.

        Args:
            source: What was ingested, kept in ``dataset.json``.

        Raises:
            ValueError: Fewer rows came than the shard bounds given hold.
        """
        self._close_shard()
        if self._stops is not None and self._count != (self._stops[-1] if self._stops else 0):
            raise ValueError(f"{self._count} rows for shards that hold {self._stops[-1]}")
        self._thumbnails.close()
        count = self._shard + 1
        names = []
        for number in range(count):
            name = shard_name(number, count)
            os.replace(
                self.staging / SHARDS_DIR / f"{number:05d}.part", self.staging / SHARDS_DIR / name
            )
            names.append(name)
        write_table(self._tables, self.staging / INDEX_FILE)
        self._tables = []
        _write_npy(
            self.staging / f"{THUMBNAILS_FILE}.part",
            self.staging / THUMBNAILS_FILE,
            (self._count, THUMBNAIL_VALUES),
        )
        dtype = self._dtypes.most_common(1)[0][0] if self._dtypes else "uint8"
        meta = DatasetMeta(
            class_names=self.class_names,
            image_shape=list(self._shapes.most_common(1)[0][0]) if self._shapes else [0, 0, 0],
            dtype=dtype,
            images=self._count,
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
        self._thumbnails.close()
        shutil.rmtree(self.staging, ignore_errors=True)


def _write_npy(raw: Path, target: Path, shape: tuple[int, int]) -> None:
    """Writes float16 values held in ``raw`` as the ``.npy`` file ``np.save`` writes."""
    header = {"descr": np.dtype(np.float16).str, "fortran_order": False, "shape": shape}
    with target.open("wb") as out, raw.open("rb") as values:
        np.lib.format.write_array_header_1_0(out, header)
        shutil.copyfileobj(values, out, 1 << 20)
    raw.unlink()


def columns_table(chunks: Sequence[dict[str, Sequence[Any]]]) -> pa.Table:
    """Chunks of index columns as one Arrow table: a column per key of any chunk (null
    where a chunk lacks it), each column's type inferred from its values."""
    keys: dict[str, None] = {}
    for chunk in chunks:
        keys.update(dict.fromkeys(chunk))
    columns: dict[str, list[Any]] = {key: [] for key in keys}
    for chunk in chunks:
        size = len(next(iter(chunk.values()))) if chunk else 0
        for key, values in columns.items():
            values.extend(chunk[key] if key in chunk else [None] * size)
    return pa.table(columns)


def rows_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Index rows as an Arrow table (see :func:`columns_table`)."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return columns_table([{key: [row.get(key) for row in rows] for key in keys}])


def write_table(tables: Sequence[pa.Table], path: Path) -> None:
    """Writes index tables (one per shard) as one Parquet file, columns sorted by
    name, deterministically."""
    if not tables:
        table = pa.table(
            {name: pa.array([], _EMPTY_TYPES.get(name, pa.string())) for name in _EMPTY_COLUMNS}
        )
        table = table.select(sorted(table.column_names))
    else:
        table = pa.concat_tables(tables, promote_options="permissive")
        table = table.select(sorted(table.column_names))
    pq.write_table(table, path, compression="zstd", write_statistics=False, store_schema=True)


def write_index(rows: list[dict[str, Any]], path: Path) -> None:
    """Writes index rows as Parquet, columns in a fixed order, deterministically."""
    write_table([rows_table(rows)] if rows else [], path)


def replace_folder(staging: Path, target: Path) -> None:
    """Puts ``staging`` where ``target`` is, removing the old folder (or file) after."""
    retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    if target.is_dir() and not target.is_symlink():
        os.replace(target, retired)
    elif target.exists() or target.is_symlink():
        target.unlink()
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)
