"""The md5 cache: a file is read again only when it changed, and deleted files leave it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from visionops.lineage import md5_cache
from visionops.lineage.dvc_store import file_md5
from visionops.lineage.md5_cache import CACHE_FILE, Md5Cache


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".dvc").mkdir()
    folder = tmp_path / "data"
    folder.mkdir()
    for number in range(5):
        (folder / f"{number}.bin").write_bytes(bytes([number]) * (1000 + number))
    return tmp_path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files whose bytes the cache reads."""
    read: list[str] = []
    real = md5_cache.read_md5

    def counting(path: str) -> str:
        read.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(md5_cache, "read_md5", counting)
    return read


def _files(project: Path) -> tuple[str, list[str]]:
    scope = str((project / "data").resolve())
    return scope, sorted(os.path.join(scope, name) for name in os.listdir(scope))


def test_unchanged_files_are_not_read_again_and_changed_ones_are(
    project: Path, reads: list[str]
) -> None:
    scope, files = _files(project)
    first = Md5Cache(project).hash_files(scope, files)
    assert first == [(file_md5(Path(file)), Path(file).stat().st_size) for file in files]
    assert len(reads) == 5

    reads.clear()
    (project / "data" / "2.bin").write_bytes(b"changed")
    again = Md5Cache(project).hash_files(scope, files)  # a new process: from the file
    assert reads == ["2.bin"]
    assert again[2] == (file_md5(project / "data" / "2.bin"), 7)
    assert again[:2] == first[:2] and again[3:] == first[3:]


def test_deleted_files_leave_the_cache(project: Path) -> None:
    scope, files = _files(project)
    Md5Cache(project).hash_files(scope, files)
    (project / "data" / "4.bin").unlink()
    Md5Cache(project).hash_files(scope, files[:4])
    with sqlite3.connect(project / CACHE_FILE) as connection:
        kept = sorted(Path(row[0]).name for row in connection.execute("SELECT path FROM md5"))
    assert kept == ["0.bin", "1.bin", "2.bin", "3.bin"]


def test_an_unreadable_cache_file_is_replaced_with_a_warning(
    project: Path, reads: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    (project / CACHE_FILE).parent.mkdir(parents=True)
    (project / CACHE_FILE).write_bytes(b"not a database" * 100)
    scope, files = _files(project)
    hashed = Md5Cache(project).hash_files(scope, files)
    assert [md5 for md5, _ in hashed] == [file_md5(Path(file)) for file in files]
    assert len(reads) == 5
    assert "md5 cache" in caplog.text and "starting afresh" in caplog.text
    reads.clear()
    Md5Cache(project).hash_files(scope, files)
    assert reads == []  # the new cache kept them


def test_without_a_dvc_folder_nothing_is_kept(tmp_path: Path, reads: list[str]) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    path = str(tmp_path / "a.bin")
    Md5Cache(tmp_path).hash_files(path, [path])
    Md5Cache(tmp_path).hash_files(path, [path])
    assert reads == ["a.bin", "a.bin"]
    assert not (tmp_path / CACHE_FILE).exists()
