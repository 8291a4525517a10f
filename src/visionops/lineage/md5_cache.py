"""md5s of files that have not changed since they were hashed, as DVC's state keeps them.

A file is known by its path, inode, size and modification time (in nanoseconds); while
all four match, its md5 is not read again. The OpenLineage events of every stage hash
the stage's inputs and outputs: without this, a dataset of a million source files would
be read again at every stage run, while only its new files need reading.

One SQLite file under ``.dvc/tmp`` (ignored by git and DVC; deleting it only costs
time); a project without a ``.dvc`` folder keeps nothing, and every file is read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from pathlib import Path

logger = logging.getLogger(__name__)

CACHE_FILE = Path(".dvc") / "tmp" / "visionops_md5.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS md5 (
    path TEXT PRIMARY KEY,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    md5 TEXT NOT NULL
)
"""
# Read at a time when hashing a file.
_CHUNK = 1 << 20


def read_md5(path: str) -> str:
    """The md5 of a file's bytes, as DVC 3 records it."""
    with open(path, "rb", buffering=0) as stream:
        if os.fstat(stream.fileno()).st_size <= _CHUNK:
            return hashlib.md5(stream.readall()).hexdigest()  # one read, sized by fstat
        digest = hashlib.md5()
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        while size := stream.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


class Md5Cache:
    """Each file's md5, read only when the file is new or changed.

    Args:
        project_dir: The project; the cache file is ``.dvc/tmp/visionops_md5.sqlite``
            there when the project has a ``.dvc`` folder. None, or a project without
            one, keeps nothing: every file is read.
    """

    def __init__(self, project_dir: Path | None) -> None:
        self._file: Path | None = None
        if project_dir is not None and (Path(project_dir) / ".dvc").is_dir():
            self._file = Path(project_dir) / CACHE_FILE

    def hash_files(self, scope: str, files: list[str]) -> list[tuple[str, int]]:
        """Each file's md5 and size, in order.

        Args:
            scope: The absolute path of the folder (or file) being hashed: the kept
                md5s under it are read first, and afterwards only those of ``files``
                are kept, so that deleted files leave the cache.
            files: Absolute paths of the files under ``scope``.
        """
        known = self._read(scope)
        kept: list[tuple[str, int, int, int, str]] = []
        for path in files:
            stat = os.stat(path)
            key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            entry = known.get(path)
            md5 = entry[3] if entry is not None and entry[:3] == key else read_md5(path)
            kept.append((path, *key, md5))
        changed = [row for row in kept if known.get(row[0]) != row[1:]]
        listed = {row[0] for row in kept}
        gone = [path for path in known if path not in listed]
        if changed or gone:
            self._write(changed, gone)
        return [(md5, size) for _, _, size, _, md5 in kept]

    def _connect(self) -> sqlite3.Connection | None:
        """The cache, created where missing and started afresh where it is not one."""
        if self._file is None:
            return None
        for attempt in range(2):
            try:
                self._file.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(self._file, timeout=30)
                try:
                    connection.execute(_SCHEMA)
                except sqlite3.DatabaseError:
                    connection.close()
                    raise
                return connection
            except sqlite3.DatabaseError as error:
                if attempt:
                    break
                logger.warning(
                    "The md5 cache %s is unreadable (%s); starting afresh", self._file, error
                )
                self._file.unlink(missing_ok=True)
            except OSError as error:
                logger.warning("The md5 cache %s cannot be used (%s)", self._file, error)
                break
        return None

    def _read(self, scope: str) -> dict[str, tuple[int, int, int, str]]:
        connection = self._connect()
        if connection is None:
            return {}
        try:
            rows = connection.execute(
                "SELECT path, inode, size, mtime_ns, md5 FROM md5 WHERE path = ? "
                "OR (path > ? AND path < ?)",
                (scope, scope + "/", scope + "0"),  # "0" follows "/": everything under it
            ).fetchall()
        except sqlite3.DatabaseError as error:
            logger.warning(
                "The md5 cache %s cannot be read (%s); hashing afresh", self._file, error
            )
            rows = []
        finally:
            connection.close()
        return {path: (inode, size, mtime, md5) for path, inode, size, mtime, md5 in rows}

    def _write(self, rows: list[tuple[str, int, int, int, str]], gone: list[str]) -> None:
        """Keeps ``rows`` (new or changed files) and forgets the files in ``gone`` (best
        effort: a cache that cannot be written only costs time)."""
        connection = self._connect()
        if connection is None:
            return
        try:
            with connection:
                connection.executemany("DELETE FROM md5 WHERE path = ?", [(p,) for p in gone])
                connection.executemany("INSERT OR REPLACE INTO md5 VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.DatabaseError as error:
            logger.warning("The md5 cache %s cannot be written (%s)", self._file, error)
        finally:
            connection.close()
