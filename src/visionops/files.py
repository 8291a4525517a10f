"""Files written whole or not at all, and the locks that keep writers of one file apart.

Every module that replaces a file a reader may be reading (``models.config``, the
scheduler's state, a prediction segment, a training checkpoint) writes it through
:func:`atomic_file`: a temporary file beside it, fsynced, renamed into place, then the
folder fsynced, so a reader sees the old file or the new one, and a power cut loses
neither. Writers that must take turns hold :func:`locked`, an ``flock`` the kernel
drops when its holder dies, so a killed process never leaves a lock behind.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o644


def fsync_dir(folder: Path) -> None:
    """Makes the renames and new entries of ``folder`` survive a power cut."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextmanager
def atomic_file(
    path: Path, *, prefix: str | None = None, mode: int = FILE_MODE
) -> Iterator[BinaryIO]:
    """Yields a binary stream whose bytes replace ``path`` when the block ends without error.

    The stream writes to a temporary file in ``path``'s folder (created if missing); at
    the end of the block it is fsynced, given ``mode`` and renamed over ``path``, and
    the folder is fsynced. An error in the block removes the temporary file and leaves
    ``path`` as it was.

    Args:
        path: The file to replace.
        prefix: How the temporary file's name starts, so that cleaners can find the
            leftovers of a killed writer; ``.<name>.`` by default.
        mode: The permissions of the new file (a temporary file starts private; a
            server running as another user must read e.g. ``models.config``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(
    path: Path, data: bytes, *, prefix: str | None = None, mode: int = FILE_MODE
) -> None:
    """Replaces ``path`` with ``data``, whole or not at all (see :func:`atomic_file`)."""
    with atomic_file(path, prefix=prefix, mode=mode) as stream:
        stream.write(data)


def atomic_write_text(
    path: Path, text: str, *, prefix: str | None = None, mode: int = FILE_MODE
) -> None:
    """Replaces ``path`` with ``text`` in UTF-8, whole or not at all."""
    atomic_write_bytes(path, text.encode(), prefix=prefix, mode=mode)


@contextmanager
def locked(path: Path, *, wait: bool = True) -> Iterator[int]:
    """Holds an exclusive ``flock`` on ``path`` (created if missing) for the block.

    Yields:
        The lock file's open descriptor (a child process given it keeps the lock held).

    Raises:
        BlockingIOError: ``wait`` is False and another process holds the lock.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield handle
    finally:
        os.close(handle)  # closing the last descriptor releases the lock
