"""The ingestion cache: work done for a source file, keyed by the file's content.

When a folder grows by a few files, ingestion decodes only the new ones: every other
file's stored image, index row, histogram and thumbnail come from here, keyed by the
sha256 of the file's bytes and the settings they were made with
(:meth:`~visionops.dataplane.images.IngestSettings.digest`). One SQLite file, so a
million entries are one file, not a million; workers read it while the driver
writes (write-ahead log). A JPEG stored as its own bytes is not copied into the cache
(the file is read anyway, to hash it). It is not a DVC output: deleting it only costs
time.

It holds the files of the latest ingestion only: a successful run removes the entries
of every file its dataset no longer has (deleted, rewritten, or made with other
settings), so the cache never grows past one dataset's worth. SQLite reuses the freed
pages for later entries rather than shrinking the file.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from visionops.dataplane.images import Processed

logger = logging.getLogger(__name__)

# The table of this cache format; tables of earlier formats are dropped on opening.
# Rows of a few KB go in rowid order (appended), the key in its own index: a table
# keyed by the random hashes themselves (WITHOUT ROWID) moves whole rows on every
# page split, five times the CPU at 200,000 images.
_TABLE = "processed_v4"
_EARLIER_TABLES = ("images", "processed_images", "processed_v2", "processed_v3")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    key TEXT NOT NULL UNIQUE,
    image BLOB,
    encoding TEXT NOT NULL,
    row BLOB NOT NULL,
    histogram BLOB,
    thumbnail BLOB
)
"""
_COLUMNS = "key, image, encoding, row, histogram, thumbnail"
# SQLite's page cache of each connection: 64 MiB (negative: in KiB).
_CACHE_KIB = -65536
# Keys looked up per query (SQLite allows at least 999 parameters).
_KEYS_PER_QUERY = 500

# One cache row, as stored: key, image (None: the file's own bytes), encoding, row
# (JSON, UTF-8 bytes), histogram (uint16 or uint32 counts) and thumbnail (float16 bytes).
CacheEntry = tuple[str, bytes | None, str, bytes, bytes | None, bytes | None]


def cache_key(file_sha256: str, settings_digest: str) -> str:
    """The key of a file's cached work: its content hash and the settings' digest."""
    return f"{file_sha256}:{settings_digest}"


def cache_entry(key: str, processed: Processed) -> CacheEntry:
    """``processed`` (readable) as a cache row; made where it was processed, so the
    driver only inserts it."""
    return (
        key,
        None if processed.file_bytes else processed.image,
        processed.encoding,
        orjson.dumps(processed.row, option=orjson.OPT_SORT_KEYS),
        None if processed.histogram is None else _histogram_bytes(processed.histogram),
        None if processed.thumbnail is None else processed.thumbnail.astype(np.float16).tobytes(),
    )


def _histogram_bytes(histogram: np.ndarray) -> bytes:
    """A histogram's counts as uint16 where they fit (images of up to 65,535 pixels
    per value), else uint32; not compressed, which would cost more time than the
    space is worth."""
    fits = int(histogram.max(initial=0)) <= np.iinfo(np.uint16).max
    return histogram.astype(np.uint16 if fits else np.uint32).tobytes()


def _histogram(data: bytes, channels: int) -> np.ndarray:
    """The ``[channels, 256]`` histogram :func:`_histogram_bytes` stored."""
    dtype = np.uint16 if len(data) == channels * 256 * 2 else np.uint32
    return np.frombuffer(data, dtype=dtype).reshape(channels, 256).astype(np.int64)


def _processed(found: Sequence[Any], file_data: bytes | None) -> Processed:
    _, image, encoding, row, histogram, thumbnail = found
    row = orjson.loads(row)
    return Processed(
        image=file_data if image is None else image,
        encoding=encoding,
        row=row,
        histogram=None if histogram is None else _histogram(histogram, row["channels"]),
        thumbnail=None if thumbnail is None else np.frombuffer(thumbnail, dtype=np.float16),
        file_bytes=image is None,
    )


def _open_writable(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=60)
    try:
        # Entries of a few KB pack better in 16 KiB pages (a new file only).
        connection.execute("PRAGMA page_size=16384")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(f"PRAGMA cache_size={_CACHE_KIB}")  # pages of the key index
        connection.execute(_SCHEMA)
        for table in _EARLIER_TABLES:
            connection.execute(f"DROP TABLE IF EXISTS {table}")
    except sqlite3.DatabaseError:
        connection.close()
        raise
    return connection


class IngestCache:
    """Reads and writes cached :class:`Processed` images.

    Args:
        path: The SQLite file (created on first write).
        writable: Opens for writing (the driver); workers open read-only.
    """

    def __init__(self, path: Path, writable: bool = False) -> None:
        self.path = Path(path)
        self._writable = writable
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection | None:
        if self._connection is None:
            if self._writable:
                self.open()
            elif self.path.exists():
                self._connection = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, timeout=60
                )
                # Lookups in random key order: 26 us a key with SQLite's 2 MiB of
                # pages, 8 us with these 64 MiB (200,000 entries).
                self._connection.execute(f"PRAGMA cache_size={_CACHE_KIB}")
        return self._connection

    def open(self) -> None:
        """Opens the cache for writing, creating it, or starting it afresh where the
        file is not a cache this version reads (it only ever saves time)."""
        if self._connection is not None:
            return
        if not self._writable:
            raise ValueError(f"the ingestion cache {self.path} was opened read-only")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connection = _open_writable(self.path)
        except sqlite3.DatabaseError as error:
            logger.warning(
                "The ingestion cache %s cannot be read (%s); starting a new one", self.path, error
            )
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._connection = _open_writable(self.path)

    def get_many(
        self, keys: Sequence[str], file_data: Sequence[bytes | None] | None = None
    ) -> dict[str, Processed]:
        """The cached images of those ``keys`` that are cached.

        Args:
            keys: Cache keys (:func:`cache_key`).
            file_data: Each key's file bytes, for entries stored as the file's own
                bytes (their ``image`` is None without it).
        """
        connection = self._connect()
        if connection is None or not keys:
            return {}
        data = dict(zip(keys, file_data, strict=True)) if file_data is not None else {}
        found: dict[str, Processed] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _KEYS_PER_QUERY):
            batch = unique[start : start + _KEYS_PER_QUERY]
            marks = ",".join("?" * len(batch))
            try:
                rows = connection.execute(
                    f"SELECT {_COLUMNS} FROM {_TABLE} WHERE key IN ({marks})", batch
                ).fetchall()
            except sqlite3.DatabaseError:
                return {}  # no table yet, or not a cache: nothing cached
            for row in rows:
                found[row[0]] = _processed(row, data.get(row[0]))
        return found

    def get(self, key: str, file_data: bytes | None = None) -> Processed | None:
        """The cached image for ``key``, or None."""
        return self.get_many([key], None if file_data is None else [file_data]).get(key)

    def put_entries(self, entries: Iterable[CacheEntry]) -> None:
        """Stores cache rows made by :func:`cache_entry`, in one transaction."""
        connection = self._connect()
        if connection is None:
            raise ValueError(f"the ingestion cache {self.path} was opened read-only")
        with connection:
            connection.executemany(
                f"INSERT OR REPLACE INTO {_TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", entries
            )

    def put_many(self, entries: list[tuple[str, Processed]]) -> None:
        """Stores readable processed images (unreadable ones are tried again next time)."""
        self.put_entries(
            cache_entry(key, item) for key, item in entries if item.row.get("readable")
        )

    def keep_only(self, keys: Iterable[str]) -> int:
        """Removes every entry whose key is not in ``keys``; returns how many it removed.

        The cache's keys are read and compared here: a few entries go after a run,
        and reading 200,000 keys costs a fifth of inserting them into a table to
        compare there.
        """
        connection = self._connect()
        if connection is None:
            raise ValueError(f"the ingestion cache {self.path} was opened read-only")
        kept = set(keys)
        gone = [
            (key,) for (key,) in connection.execute(f"SELECT key FROM {_TABLE}") if key not in kept
        ]
        with connection:
            connection.executemany(f"DELETE FROM {_TABLE} WHERE key = ?", gone)
        return len(gone)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
