"""Ingesting an image folder: the same bytes in this process and in a worker pool,
a grown folder re-ingested from the cache with only its new files decoded, and broken
files kept as unreadable rows with their errors."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visionops.dataplane import batch, images, parallel
from visionops.dataplane import ingest as ingest_module
from visionops.dataplane.cache import IngestCache
from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.reuse import shard_bounds, shard_cache_folder
from visionops.sources import open_source

Tree = Callable[[Path], dict[str, bytes]]
Ingest = Callable[..., ShardedDataset]


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the files decoded in this process (small jobs run here)."""
    calls: list[int] = []
    original = images.decode_image_file

    def counting(data: bytes, *args, **kwargs):
        calls.append(len(data))
        return original(data, *args, **kwargs)

    monkeypatch.setattr(images, "decode_image_file", counting)
    return calls


def test_a_worker_pool_writes_the_bytes_this_process_writes(
    tmp_path: Path,
    photos: Path,
    ingest: Ingest,
    read_tree: Tree,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        ingest(photos, tmp_path / "inline", [16, 16], images_per_shard=5)
    assert "on this process" in caplog.text
    caplog.clear()
    monkeypatch.setattr(parallel, "LOCAL_THRESHOLD", 0)
    monkeypatch.setattr(parallel, "worker_count", lambda: 2)
    with caplog.at_level(logging.INFO):
        ingest(photos, tmp_path / "pool", [16, 16], images_per_shard=5)
    shards = len(shard_bounds(open_source("image_folder", photos).source_ids, 5))
    assert shards >= 3
    assert f"in {shards} shard(s), {shards} to process on 2 local processes" in caplog.text
    inline, pool = read_tree(tmp_path / "inline"), read_tree(tmp_path / "pool")
    assert len([name for name in inline if name.startswith("shards/")]) == shards
    assert inline == pool


def test_a_grown_folder_decodes_only_its_new_files_and_writes_what_a_fresh_run_writes(
    tmp_path: Path,
    photos: Path,
    ingest: Ingest,
    read_tree: Tree,
    decodes: list[int],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batch, "FILES_PER_GROUP", 5)  # several groups of files per shard
    cache = tmp_path / "cache.sqlite"
    ingest(photos, tmp_path / "first", [16, 16], cache=IngestCache(cache, writable=True))
    assert len(decodes) == 24
    for number in range(3):
        Image.new("RGB", (30, 20), (40 * number, 90, 200)).save(photos / "dog" / f"new{number}.png")
    decodes.clear()
    with caplog.at_level(logging.INFO):
        grown = ingest(
            photos, tmp_path / "grown", [16, 16], cache=IngestCache(cache, writable=True)
        )
    assert len(decodes) == 3, "only the new files are decoded"
    assert "reused earlier work for 24 of 27 images" in caplog.text
    assert len(grown) == 27
    fresh = ingest(photos, tmp_path / "fresh", [16, 16])
    assert read_tree(grown.folder) == read_tree(fresh.folder)


def test_a_changed_file_is_processed_again(
    tmp_path: Path, photos: Path, ingest: Ingest, read_tree: Tree, decodes: list[int]
) -> None:
    """The cache is keyed by content: a file rewritten under the same name is decoded
    again and its new pixels stored."""
    cache = tmp_path / "cache.sqlite"
    ingest(photos, tmp_path / "first", [16, 16], cache=IngestCache(cache, writable=True))
    Image.new("RGB", (24, 20), (255, 0, 0)).save(photos / "cat" / "000.png")
    decodes.clear()
    again = ingest(photos, tmp_path / "again", [16, 16], cache=IngestCache(cache, writable=True))
    assert len(decodes) == 1
    row = again.index.set_index("source_id").loc["cat/000.png"]
    assert (row["mean_c0"], row["mean_c1"], row["mean_c2"]) == (255.0, 0.0, 0.0)
    assert read_tree(again.folder) == read_tree(ingest(photos, tmp_path / "fresh", [16, 16]).folder)


def test_other_settings_do_not_reuse_the_cache(
    tmp_path: Path, photos: Path, ingest: Ingest, decodes: list[int]
) -> None:
    cache = tmp_path / "cache.sqlite"
    ingest(photos, tmp_path / "small", [16, 16], cache=IngestCache(cache, writable=True))
    decodes.clear()
    larger = ingest(photos, tmp_path / "large", [20, 20], cache=IngestCache(cache, writable=True))
    assert len(decodes) == 24
    assert larger.image_shape == (20, 20, 3)


def _broken_files(folder: Path) -> None:
    stream = folder / "truncated.jpg"
    Image.effect_noise((64, 64), 60).convert("RGB").save(stream, quality=90)
    stream.write_bytes(stream.read_bytes()[:700])
    (folder / "notes.png").write_text("this is not an image")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "random.webp").write_bytes(np.random.default_rng(0).bytes(300))


def test_broken_files_are_unreadable_rows_with_their_errors(
    tmp_path: Path, photos: Path, ingest: Ingest
) -> None:
    _broken_files(photos / "dog")
    dataset = ingest(photos, tmp_path / "set", [16, 16], images_per_shard=7)
    index = dataset.index.set_index("source_id")
    broken = ["dog/empty.jpg", "dog/notes.png", "dog/random.webp", "dog/truncated.jpg"]
    assert sorted(index.index[~index["readable"]]) == broken
    errors = index.loc[broken, "read_error"].to_dict()
    assert errors["dog/notes.png"] == (
        "cannot decode image: cannot identify image file: not an image in a format Pillow reads"
    )
    assert errors["dog/empty.jpg"] == errors["dog/notes.png"]
    assert errors["dog/truncated.jpg"].startswith("cannot decode image: image file is truncated")
    assert not any(re.search(r"0x[0-9a-f]{6,}", error) for error in errors.values())
    assert (index.loc[broken, "length"] == 0).all()
    assert index.loc[broken, "class_name"].tolist() == ["dog"] * 4
    assert len(dataset) == 28
    assert dataset.to_memory().images.shape == (24, 16, 16, 3)
    again = ingest(photos, tmp_path / "again", [16, 16], images_per_shard=7)
    assert again.index.set_index("source_id").loc[broken, "read_error"].to_dict() == errors


def test_a_jpeg_needing_no_change_is_stored_as_its_own_bytes(
    tmp_path: Path, ingest: Ingest, record_of: Callable
) -> None:
    """At the stored size, in the stored channels and upright, a JPEG is kept byte for
    byte (no second lossy encoding); resized, it is re-encoded."""
    (tmp_path / "src" / "a").mkdir(parents=True)
    path = tmp_path / "src" / "a" / "photo.jpg"
    Image.effect_noise((16, 16), 50).convert("RGB").save(path, quality=85)
    kept = ingest(tmp_path / "src", tmp_path / "kept", [16, 16])
    image, label, encoding = record_of(kept, "a/photo.jpg")
    assert (image, label, encoding) == (path.read_bytes(), 0, "jpeg")
    resized = ingest(tmp_path / "src", tmp_path / "resized", [8, 8])
    image, _, encoding = record_of(resized, "a/photo.jpg")
    assert encoding == "jpeg" and image != path.read_bytes()
    assert resized.image_shape == (8, 8, 3)


def test_an_unreadable_cache_is_started_afresh(
    tmp_path: Path,
    photos: Path,
    ingest: Ingest,
    read_tree: Tree,
    decodes: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A cache file that is not a cache (truncated, overwritten) costs time, not the
    run: it is replaced, with a warning naming it, and the next run reuses the new one."""
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"not a database" * 100)
    with caplog.at_level(logging.WARNING):
        first = ingest(
            photos, tmp_path / "first", [16, 16], cache=IngestCache(cache, writable=True)
        )
    assert f"The ingestion cache {cache} cannot be read" in caplog.text
    assert len(decodes) == 24
    decodes.clear()
    again = ingest(photos, tmp_path / "again", [16, 16], cache=IngestCache(cache, writable=True))
    assert decodes == []
    assert read_tree(first.folder) == read_tree(again.folder)


def test_shards_whose_files_are_unchanged_are_reused_whole_without_opening_a_file(
    tmp_path: Path,
    photos: Path,
    ingest: Ingest,
    read_tree: Tree,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "cache.sqlite"
    ingest(
        photos,
        tmp_path / "first",
        [16, 16],
        images_per_shard=4,
        cache=IngestCache(cache, writable=True),
    )
    shards_before = shard_bounds(open_source("image_folder", photos).source_ids, 4)
    assert len(shards_before) >= 4
    Image.new("RGB", (30, 20), (1, 90, 200)).save(photos / "dog" / "zz_new.png")
    opened: list[str] = []
    real = ingest_module.process_files

    def recording(paths: list[str], *args: object) -> object:
        opened.extend(paths)
        return real(paths, *args)

    monkeypatch.setattr(ingest_module, "process_files", recording)
    with caplog.at_level(logging.INFO):
        grown = ingest(
            photos,
            tmp_path / "grown",
            [16, 16],
            images_per_shard=4,
            cache=IngestCache(cache, writable=True),
        )

    ids = open_source("image_folder", photos).source_ids
    bounds = shard_bounds(ids, 4)
    changed = [ids[start:stop] for start, stop in bounds if "dog/zz_new.png" in ids[start:stop]]
    assert [Path(path).relative_to(photos).as_posix() for path in opened] == changed[0]
    assert len(opened) < len(ids) // 2, "only the new file's shard is read"
    assert f"{len(bounds) - 1} of {len(bounds)} shard(s) unchanged" in caplog.text
    fresh = ingest(photos, tmp_path / "fresh", [16, 16], images_per_shard=4)
    assert read_tree(grown.folder) == read_tree(fresh.folder)
    entries = {path.stem for path in shard_cache_folder(cache).glob("*.tfrecord")}
    assert len(entries) == len(bounds), "the shard cache keeps this version's shards only"


def test_a_file_rewritten_in_place_makes_its_shard_count_again(
    tmp_path: Path, photos: Path, ingest: Ingest, read_tree: Tree, decodes: list[int]
) -> None:
    cache = tmp_path / "cache.sqlite"
    ingest(
        photos,
        tmp_path / "first",
        [16, 16],
        images_per_shard=4,
        cache=IngestCache(cache, writable=True),
    )
    Image.new("RGB", (24, 20), (0, 255, 0)).save(photos / "dog" / "000.png")
    decodes.clear()

    again = ingest(
        photos,
        tmp_path / "again",
        [16, 16],
        images_per_shard=4,
        cache=IngestCache(cache, writable=True),
    )

    assert len(decodes) == 1, "its shard's other files come from the per-file cache"
    row = again.index.set_index("source_id").loc["dog/000.png"]
    assert (row["mean_c0"], row["mean_c1"], row["mean_c2"]) == (0.0, 255.0, 0.0)
    fresh = ingest(photos, tmp_path / "fresh", [16, 16], images_per_shard=4)
    assert read_tree(again.folder) == read_tree(fresh.folder)
