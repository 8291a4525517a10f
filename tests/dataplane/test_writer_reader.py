"""Writing and reading a dataset version: arrays come back as written, a failed write
leaves the previous version in place, the same input gives the same bytes, and shards
hold at most images_per_shard rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from visionops.dataplane import ingest
from visionops.dataplane.ingest import write_arrays
from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.records import iter_framed
from visionops.dataplane.writer import ShardWriter
from visionops.image_dataset import ImageDataset

Tree = Callable[[Path], dict[str, bytes]]


def _arrays(count: int, shape: tuple[int, ...] = (7, 5, 3), dtype: str = "uint8") -> ImageDataset:
    rng = np.random.default_rng(count)
    if dtype == "uint8":
        images = rng.integers(0, 256, size=(count, *shape), dtype=np.uint8)
    else:
        images = rng.normal(0, 1, size=(count, *shape)).astype(dtype)
    return ImageDataset(
        images=images,
        labels=np.arange(count, dtype=np.int64) % 2,
        class_names=("left", "right"),
        source_ids=np.asarray([f"array:{number}" for number in range(count)]),
    )


@pytest.mark.parametrize(
    ("shape", "dtype"), [((7, 5, 3), "uint8"), ((6, 6, 1), "uint8"), ((4, 3, 2), "float32")]
)
def test_arrays_come_back_as_written(tmp_path: Path, shape: tuple[int, ...], dtype: str) -> None:
    """Every image, label, class name and source id reads back exactly; PNG holds
    uint8 gray and RGB, raw bytes hold the rest."""
    arrays = _arrays(11, shape, dtype)
    meta = write_arrays(arrays, tmp_path / "set", images_per_shard=4)
    dataset = ShardedDataset(tmp_path / "set")
    back = dataset.to_memory()
    np.testing.assert_array_equal(back.images, arrays.images)
    assert back.images.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.labels, arrays.labels)
    assert back.class_names == ("left", "right")
    assert list(back.source_ids) == list(arrays.source_ids)
    assert list(dataset.index["class_name"]) == ["left", "right"] * 5 + ["left"]
    assert dataset.image_shape == shape and meta.images == 11
    assert set(dataset.index["encoding"]) == {"png" if dtype == "uint8" else "raw"}
    np.testing.assert_array_equal(dataset.read_images([9, 2]), arrays.images[[9, 2]])
    chunks = list(dataset.iter_chunks(chunk_size=4))
    assert [len(rows) for rows, _ in chunks] == [4, 4, 3]
    np.testing.assert_array_equal(chunks[2][1].images, arrays.images[8:])
    assert dataset.thumbnails().shape == (11, 256)


def test_histograms_count_every_stored_pixel_value(tmp_path: Path) -> None:
    arrays = _arrays(6)
    meta = write_arrays(arrays, tmp_path / "set", images_per_shard=4)
    expected = [
        np.bincount(arrays.images[..., channel].ravel(), minlength=256).tolist()
        for channel in range(3)
    ]
    assert meta.histograms == expected
    assert ShardedDataset(tmp_path / "set").meta.histograms == expected


def test_an_aborted_write_leaves_the_previous_version_intact(
    tmp_path: Path, read_tree: Tree
) -> None:
    write_arrays(_arrays(5), tmp_path / "set")
    before = read_tree(tmp_path / "set")
    writer = ShardWriter(tmp_path / "set", ["left", "right"], images_per_shard=2)
    row = {"label": 0, "source_id": "x", "readable": True, "height": 1, "width": 1}
    writer.add(dict(row, channels=1, dtype="uint8"), b"\x89PNG...", "png", None, None)
    writer.abort()
    assert read_tree(tmp_path / "set") == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["set"]


def test_a_failure_mid_way_leaves_the_previous_version_intact(
    tmp_path: Path, read_tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error in the third shard's task: the exception reaches the caller, the old
    folder is unchanged and no half-written folder is left beside it."""
    write_arrays(_arrays(5), tmp_path / "set")
    before = read_tree(tmp_path / "set")
    calls = []
    original = ingest.process_arrays

    def failing(images: np.ndarray):
        calls.append(len(images))
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return original(images)

    monkeypatch.setattr(ingest, "process_arrays", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        write_arrays(_arrays(12), tmp_path / "set", images_per_shard=4)
    assert calls == [4, 4, 4]
    assert read_tree(tmp_path / "set") == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["set"]


def test_the_same_input_gives_the_same_bytes(tmp_path: Path, read_tree: Tree) -> None:
    arrays = _arrays(9)
    write_arrays(arrays, tmp_path / "first", images_per_shard=4)
    write_arrays(arrays, tmp_path / "second", images_per_shard=4)
    first, second = read_tree(tmp_path / "first"), read_tree(tmp_path / "second")
    assert first == second
    assert {"dataset.json", "index.parquet", "thumbnails.npy"} < set(first)


@pytest.mark.parametrize(("count", "per_shard", "shards"), [(1, 4, 1), (8, 4, 2), (9, 4, 3)])
def test_shards_hold_at_most_images_per_shard(
    tmp_path: Path, count: int, per_shard: int, shards: int
) -> None:
    meta = write_arrays(_arrays(count), tmp_path / "set", images_per_shard=per_shard)
    dataset = ShardedDataset(tmp_path / "set")
    assert meta.shards == [f"part-{n:05d}-of-{shards:05d}.tfrecord" for n in range(shards)]
    sizes = [len(list(iter_framed(path))) for path in dataset.shard_files()]
    assert sizes == [min(per_shard, count - n * per_shard) for n in range(shards)]
    assert dataset.index["shard"].tolist() == [n // per_shard for n in range(count)]
    assert dataset.index["position"].tolist() == [n % per_shard for n in range(count)]


def test_an_empty_source_is_an_empty_version(tmp_path: Path) -> None:
    meta = write_arrays(_arrays(0), tmp_path / "set")
    dataset = ShardedDataset(tmp_path / "set")
    assert meta.images == 0 and meta.shards == [] and len(dataset) == 0
    assert dataset.thumbnails().shape == (0, 256)
    index = dataset.index  # every column there, typed, for validation to count none
    assert {"source_id", "label", "readable", "sha256", "mean", "dtype"} <= set(index.columns)
    assert str(index["label"].dtype) == "int64" and str(index["readable"].dtype) == "bool"


def test_add_many_wants_one_of_each_per_image(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path / "set", ["a"])
    with pytest.raises(ValueError, match="2 rows, 1 images"):
        writer.add_many([{}, {}], [b""], [""], None, np.zeros((2, 256), np.float16))
    writer.abort()
