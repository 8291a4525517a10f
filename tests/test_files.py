"""Atomic writes and locks: a reader sees the old file or the new one; writers take turns."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest

from visionops.files import atomic_file, atomic_write_bytes, atomic_write_text, locked


def test_a_write_replaces_the_file_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "new" / "models.config"
    atomic_write_text(path, "first\n")
    atomic_write_text(path, "second\n")
    assert path.read_text() == "second\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["models.config"]


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    atomic_write_bytes(path, b"old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_file(path) as stream:
        stream.write(b"half")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_the_temporary_name_starts_with_the_prefix_given(tmp_path: Path) -> None:
    """Cleaners find a killed writer's leftover by its prefix (e.g. ``.tmp-``)."""
    path = tmp_path / "segment.parquet"
    with atomic_file(path, prefix=".tmp-segment.") as stream:
        stream.write(b"rows")
        (temporary,) = [p for p in tmp_path.iterdir() if p != path]
        assert temporary.name.startswith(".tmp-segment.")
    assert path.read_bytes() == b"rows"


def _try_lock(path: str, queue: multiprocessing.Queue) -> None:
    try:
        with locked(Path(path), wait=False):
            queue.put("taken")
    except BlockingIOError:
        queue.put("busy")


def test_a_lock_held_elsewhere_is_busy_without_waiting(tmp_path: Path) -> None:
    path = tmp_path / "locks" / ".registry.lock"
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    with locked(path) as handle:
        assert handle >= 0
        child = context.Process(target=_try_lock, args=(str(path), queue))
        child.start()
        child.join(30)
        assert queue.get(timeout=5) == "busy"
    child = context.Process(target=_try_lock, args=(str(path), queue))
    child.start()
    child.join(30)
    assert queue.get(timeout=5) == "taken"
