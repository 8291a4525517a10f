"""Whole shards reused: when a folder grows, only the shards its new files fall in are
written again.

Two things make that possible. Shard boundaries are content-defined: a shard of an
image folder ends after a file whose name hashes to a cut (within a minimum and a
maximum size), not after a fixed count, so a file added in one place moves no other
boundary. And each shard written is kept in a shard cache beside the ingestion
cache, under a signature of what it was made from: every file's name, label, class,
size and modification time, and the settings. A shard whose files all still have the
same name, size and time is linked from there, with its index rows, thumbnails and
histogram, and none of its files is opened. That is the test ``git status`` and
``rsync`` make of a file; where it cannot be trusted (a tool that rewrites a file
keeping its size and time), deleting the shard cache makes every file count again.

The shard cache holds the shards of the latest ingestion only: a successful run
removes every other entry.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from visionops.dataplane.layout import link_or_copy

logger = logging.getLogger(__name__)

_RECORDS, _ROWS, _ARRAYS = ".tfrecord", ".parquet", ".npz"


def shard_cache_folder(ingest_cache: Path) -> Path:
    """The shard cache beside the ingestion cache file ``ingest_cache``."""
    return Path(ingest_cache).with_suffix(".shards")


def shard_bounds(source_ids: Sequence[str], images_per_shard: int) -> list[tuple[int, int]]:
    """Each shard's ``(start, stop)`` rows, content-defined: a shard ends after a row
    whose source id hashes to a cut, once it holds at least half ``images_per_shard``
    rows, and at twice ``images_per_shard`` rows at the most; shards average about
    ``images_per_shard`` rows. An id added or removed moves the boundaries of its own
    shard only (the next cut resynchronises them)."""
    least = max(1, images_per_shard // 2)
    most = max(least, 2 * images_per_shard)
    period = max(1, images_per_shard - least + 1)
    bounds, start = [], 0
    for row, source_id in enumerate(source_ids):
        size = row + 1 - start
        if size >= most or (size >= least and zlib.crc32(source_id.encode()) % period == 0):
            bounds.append((start, row + 1))
            start = row + 1
    if start < len(source_ids):
        bounds.append((start, len(source_ids)))
    return bounds


def shard_signature(
    settings_digest: str,
    source_ids: Sequence[str],
    labels: Sequence[int],
    class_names: Sequence[str],
    files: Sequence[Path],
) -> str | None:
    """What a shard is made from, as a hex digest: the settings, and each file's id,
    label, class name, size and modification time. None where a file cannot be
    looked at (it is then read, and its error reported, as usual)."""
    digest = hashlib.sha256(settings_digest.encode())
    for source_id, label, path in zip(source_ids, labels, files, strict=True):
        try:
            status = os.stat(path)
        except OSError:
            return None
        name = class_names[label] if 0 <= label < len(class_names) else ""
        digest.update(
            f"{source_id}\0{label}\0{name}\0{status.st_size}\0{status.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedShard:
    """A shard from the shard cache.

    Attributes:
        records: The shard's TFRecord file.
        rows: Its index rows (the ``shard`` column as it was written).
        thumbnails: ``[rows, 256]`` float16 thumbnails.
        histogram: ``[channels, 256]`` value counts, or None.
    """

    records: Path
    rows: pa.Table
    thumbnails: np.ndarray
    histogram: np.ndarray | None


class ShardCache:
    """Shards of the latest ingestion, by signature, in the folder ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._used: set[str] = set()

    def has(self, signature: str) -> bool:
        """Whether every file of an entry is there (:meth:`get` reads them)."""
        base = self.root / signature
        return all(base.with_suffix(suffix).is_file() for suffix in (_RECORDS, _ROWS, _ARRAYS))

    def get(self, signature: str) -> CachedShard | None:
        """The shard cached under ``signature``, or None (an entry that cannot be read
        whole counts as none)."""
        base = self.root / signature
        try:
            rows = pq.read_table(base.with_suffix(_ROWS))
            with np.load(base.with_suffix(_ARRAYS)) as arrays:
                thumbnails, histogram = arrays["thumbnails"], arrays["histogram"]
        except (OSError, ValueError, KeyError, pa.ArrowException) as error:
            if base.with_suffix(_RECORDS).exists():
                logger.warning("shard cache entry %s is unreadable (%s): rewriting it", base, error)
            return None
        if not base.with_suffix(_RECORDS).is_file() or len(thumbnails) != rows.num_rows:
            return None
        self._used.add(signature)
        return CachedShard(
            base.with_suffix(_RECORDS), rows, thumbnails, histogram if histogram.size else None
        )

    def put(
        self,
        signature: str,
        records: Path,
        rows: pa.Table,
        thumbnails: np.ndarray,
        histogram: np.ndarray | None,
    ) -> None:
        """Keeps a shard just written (``records`` is linked, not copied, where the
        file system allows)."""
        self.root.mkdir(parents=True, exist_ok=True)
        base = self.root / signature
        partial = self.root / f".{signature}.part"
        link_or_copy(records, partial)
        os.replace(partial, base.with_suffix(_RECORDS))
        pq.write_table(rows, partial)
        os.replace(partial, base.with_suffix(_ROWS))
        with open(partial, "wb") as stream:
            np.savez(
                stream,
                thumbnails=np.asarray(thumbnails, dtype=np.float16),
                histogram=np.zeros(0, np.int64) if histogram is None else histogram,
            )
        os.replace(partial, base.with_suffix(_ARRAYS))
        self._used.add(signature)

    def keep_only_used(self) -> None:
        """Removes every entry this ingestion neither used nor wrote."""
        if not self.root.is_dir():
            return
        for path in self.root.iterdir():
            if path.name.split(".")[0] not in self._used or path.name.startswith("."):
                path.unlink(missing_ok=True)
