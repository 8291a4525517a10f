"""FileTreeDataset: a folder saved whole, read back as path -> bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.io import DatasetError

from visionops.datasets.file_tree import FileTreeDataset

TREE = {
    "index.html": b"<html>home</html>",
    "validations/images/run/page.html": b"<html>page</html>",
    "static/images/favicon.ico": bytes(range(256)) * 4,
}


def test_round_trip_keeps_nested_paths_and_binary_content(tmp_path: Path) -> None:
    store = FileTreeDataset(str(tmp_path / "reports" / "data_docs"))
    store.save(TREE)
    assert store.load() == TREE
    assert (tmp_path / "reports" / "data_docs" / "validations" / "images" / "run").is_dir()


def test_text_values_are_saved_as_utf8(tmp_path: Path) -> None:
    store = FileTreeDataset(str(tmp_path / "site"))
    store.save({"notes.txt": "café"})
    assert store.load() == {"notes.txt": "café".encode()}


def test_second_save_replaces_the_whole_tree(tmp_path: Path) -> None:
    store = FileTreeDataset(str(tmp_path / "site"))
    store.save(TREE)
    store.save({"index.html": b"new", "other/file.txt": b"x"})
    assert store.load() == {"index.html": b"new", "other/file.txt": b"x"}
    assert not (tmp_path / "site" / "validations").exists()


def test_save_leaves_no_temporary_folder(tmp_path: Path) -> None:
    store = FileTreeDataset(str(tmp_path / "site"))
    store.save(TREE)
    store.save(TREE)
    assert [entry.name for entry in tmp_path.iterdir()] == ["site"]


@pytest.mark.parametrize("key", ["/etc/passwd", "../escape.txt", "a/../../b", "", "a\\b"])
def test_bad_keys_are_rejected_before_anything_is_written(tmp_path: Path, key: str) -> None:
    store = FileTreeDataset(str(tmp_path / "site"))
    with pytest.raises(DatasetError, match="not a relative path inside the tree") as caught:
        store.save({"index.html": b"ok", key: b"bad"})
    assert isinstance(caught.value.__cause__, ValueError)
    assert repr(key) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_the_previous_tree_intact(tmp_path: Path) -> None:
    store = FileTreeDataset(str(tmp_path / "site"))
    store.save(TREE)
    with pytest.raises(DatasetError, match="'broken.html' is a int"):
        store.save({"index.html": b"new", "broken.html": 42})
    assert store.load() == TREE
    assert [entry.name for entry in tmp_path.iterdir()] == ["site"]


def test_save_failing_midway_leaves_the_previous_tree_intact(tmp_path: Path) -> None:
    """A key that is both a file and a folder fails while writing, after some files exist."""
    store = FileTreeDataset(str(tmp_path / "site"))
    store.save(TREE)
    with pytest.raises(DatasetError):
        store.save({"index.html": b"new", "index.html/child": b"clash"})
    assert store.load() == TREE
    assert [entry.name for entry in tmp_path.iterdir()] == ["site"]


def test_exists_and_describe(tmp_path: Path) -> None:
    store = FileTreeDataset(str(tmp_path / "site"))
    assert not store.exists()
    store.save({})
    assert store.exists()
    assert store.load() == {}
    assert "site" in str(store)


def test_loading_a_missing_tree_says_where(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no file tree at"):
        FileTreeDataset(str(tmp_path / "missing")).load()
