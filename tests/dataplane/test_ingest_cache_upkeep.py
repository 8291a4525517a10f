"""The ingestion caches look after themselves: the per-file cache keeps the latest
dataset's files only, and a shard-cache entry that cannot be read is processed again
and written anew, with a warning naming it."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from visionops.dataplane.cache import IngestCache
from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.reuse import ShardCache, shard_cache_folder

Tree = Callable[[Path], dict[str, bytes]]
Ingest = Callable[..., ShardedDataset]


def _cached_file_hashes(cache: Path) -> set[str]:
    """The file hashes the per-file cache has entries for."""
    with sqlite3.connect(cache) as connection:
        keys = [key for (key,) in connection.execute("SELECT key FROM processed_v4")]
    return {key.partition(":")[0] for key in keys}


def _ingest_cached(ingest: Ingest, photos: Path, target: Path, cache: Path) -> ShardedDataset:
    return ingest(
        photos, target, [16, 16], images_per_shard=4, cache=IngestCache(cache, writable=True)
    )


def test_the_file_cache_keeps_only_the_files_of_the_latest_ingestion(
    tmp_path: Path, photos: Path, ingest: Ingest, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache.sqlite"
    first = _ingest_cached(ingest, photos, tmp_path / "first", cache)
    assert _cached_file_hashes(cache) == set(first.index["file_sha256"])
    (photos / "cat" / "001.jpg").unlink()
    Image.new("RGB", (24, 20), (0, 0, 255)).save(photos / "dog" / "000.png")

    with caplog.at_level(logging.INFO):
        again = _ingest_cached(ingest, photos, tmp_path / "again", cache)

    assert len(again) == len(first) - 1
    assert _cached_file_hashes(cache) == set(again.index["file_sha256"])
    assert "2 cache entries of files no longer in the dataset removed" in caplog.text
    with caplog.at_level(logging.INFO):
        other = ingest(
            photos, tmp_path / "other", [12, 12], cache=IngestCache(cache, writable=True)
        )
    assert _cached_file_hashes(cache) == set(other.index["file_sha256"])
    with sqlite3.connect(cache) as connection:
        (entries,) = connection.execute("SELECT count(*) FROM processed_v4").fetchone()
    assert entries == len(other), "entries made with other settings are gone"


def test_an_unreadable_shard_cache_entry_is_processed_again_and_rewritten(
    tmp_path: Path,
    photos: Path,
    ingest: Ingest,
    read_tree: Tree,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An entry found when the run was planned but unreadable when its shard is
    written (damaged, or removed in between) is processed in the driver instead."""
    cache = tmp_path / "cache.sqlite"
    first = _ingest_cached(ingest, photos, tmp_path / "first", cache)
    entries = sorted(shard_cache_folder(cache).glob("*.parquet"))
    assert len(entries) == len(list((first.folder / "shards").glob("*.tfrecord"))) >= 3
    damaged = entries[1]
    damaged.write_bytes(b"not parquet")

    with caplog.at_level(logging.WARNING):
        again = _ingest_cached(ingest, photos, tmp_path / "again", cache)

    assert f"shard cache entry {damaged.with_suffix('')} is unreadable" in caplog.text
    assert read_tree(again.folder) == read_tree(first.folder)
    assert ShardCache(shard_cache_folder(cache)).get(damaged.stem) is not None, "rewritten"
