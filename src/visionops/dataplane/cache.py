"""The ingestion cache: work done for a source file, keyed by the file's content.

When a folder grows by a few files, ingestion decodes only the new ones: every other
file's stored image, index row, histogram and thumbnail come from here, keyed by the
sha256 of the file's bytes and the settings they were made with
(:meth:`~visionops.dataplane.images.IngestSettings.digest`). One SQLite file, so a
million entries are one file, not a million; workers read it while the driver
writes (write-ahead log). It is not a DVC output: deleting it only costs time.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from pathlib import Path

import numpy as np

from visionops.dataplane.images import Processed

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    key TEXT PRIMARY KEY,
    image BLOB NOT NULL,
    encoding TEXT NOT NULL,
    row TEXT NOT NULL,
    histogram BLOB,
    thumbnail BLOB
)
"""


def cache_key(file_sha256: str, settings_digest: str) -> str:
    return f"{file_sha256}:{settings_digest}"


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
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._connection = sqlite3.connect(self.path, timeout=60)
                self._connection.execute("PRAGMA journal_mode=WAL")
                self._connection.execute("PRAGMA synchronous=NORMAL")
                self._connection.execute(_SCHEMA)
            elif self.path.exists():
                self._connection = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, timeout=60
                )
        return self._connection

    def get(self, key: str) -> Processed | None:
        """The cached image for ``key``, or None."""
        connection = self._connect()
        if connection is None:
            return None
        try:
            found = connection.execute(
                "SELECT image, encoding, row, histogram, thumbnail FROM images WHERE key = ?",
                (key,),
            ).fetchone()
        except sqlite3.OperationalError:
            return None  # no table yet: nothing cached
        if found is None:
            return None
        image, encoding, row, histogram, thumbnail = found
        row = json.loads(row)
        shape = (row["channels"], 256)
        return Processed(
            image=image,
            encoding=encoding,
            row=row,
            histogram=None
            if histogram is None
            else np.frombuffer(zlib.decompress(histogram), dtype=np.uint32)
            .reshape(shape)
            .astype(np.int64),
            thumbnail=None if thumbnail is None else np.frombuffer(thumbnail, dtype=np.float16),
        )

    def put_many(self, entries: list[tuple[str, Processed]]) -> None:
        """Stores readable processed images (unreadable ones are tried again next time)."""
        connection = self._connect()
        assert connection is not None
        rows = [
            (
                key,
                item.image,
                item.encoding,
                json.dumps(item.row, sort_keys=True),
                None
                if item.histogram is None
                else zlib.compress(item.histogram.astype(np.uint32).tobytes(), 1),
                None if item.thumbnail is None else item.thumbnail.astype(np.float16).tobytes(),
            )
            for key, item in entries
            if item.row.get("readable")
        ]
        with connection:
            connection.executemany("INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?, ?)", rows)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
