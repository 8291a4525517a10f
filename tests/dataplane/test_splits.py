"""Splits of a dataset version: every kept image once, records copied unchanged,
deterministic, classes mixed in every shard, copies kept together, stale manifests refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visionops.dataplane.ingest import make_job, write_arrays
from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.records import decode_example, read_framed
from visionops.dataplane.splits import (
    SPLITS,
    SplitBuild,
    assign_splits,
    index_sha256,
    plan_splits,
)
from visionops.errors import ConfigError, DataValidationError
from visionops.image_dataset import ImageDataset
from visionops.sources import open_source

PARAMS = {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 42}
NEAR_DUPLICATES = {"max_hash_distance": 6, "min_correlation": 0.99}


def _images(per_class: int = 40, classes: int = 3, seed: int = 0) -> ImageDataset:
    """Distinct 8x8 gray noise images, class by class (as a class-folder source is)."""
    rng = np.random.default_rng(seed)
    count = per_class * classes
    return ImageDataset(
        images=rng.integers(0, 256, size=(count, 8, 8, 1), dtype=np.uint8),
        labels=np.repeat(np.arange(classes), per_class).astype(np.int64),
        class_names=tuple(f"class_{index}" for index in range(classes)),
        source_ids=np.asarray([f"synthetic:{index}" for index in range(count)]),
    )


def _with_copies(dataset: ImageDataset, copies: np.ndarray, brighten: int) -> ImageDataset:
    """``dataset`` plus a copy of each of ``copies`` (``copy:<i>``), ``brighten`` lighter."""
    extra = np.clip(dataset.images[copies].astype(int) + brighten, 0, 255).astype(np.uint8)
    return ImageDataset(
        images=np.concatenate([dataset.images, extra]),
        labels=np.concatenate([dataset.labels, dataset.labels[copies]]),
        class_names=dataset.class_names,
        source_ids=np.concatenate([dataset.source_ids, [f"copy:{i}" for i in copies]]),
    )


def _raw(folder: Path, dataset: ImageDataset, per_shard: int = 16) -> ShardedDataset:
    write_arrays(dataset, folder, images_per_shard=per_shard)
    return ShardedDataset(folder)


def _manifest(raw: ShardedDataset, excluded: tuple[str, ...] = ()) -> dict:
    return {
        "format": 1,
        "index_sha256": index_sha256(raw.folder),
        "images": len(raw),
        "excluded": list(excluded),
    }


def _write(builds: tuple[SplitBuild, ...], folder: Path) -> dict[str, ShardedDataset]:
    for build in builds:
        build.write(folder / build.name)
    return {build.name: ShardedDataset(folder / build.name) for build in builds}


def _records(dataset: ShardedDataset) -> dict[str, tuple[bytes, int]]:
    """Each readable image's stored record and index label, by source id."""
    files = dataset.shard_files()
    found = {}
    for row in dataset.index[dataset.index["readable"]].itertuples():
        with files[row.shard].open("rb") as stream:
            record = read_framed(stream, row.offset, row.length, str(files[row.shard]))
        found[row.source_id] = (record, int(row.label))
    return found


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def raw(tmp_path: Path) -> ShardedDataset:
    """120 distinct images of three classes, in class order, 16 to a shard."""
    return _raw(tmp_path / "raw", _images())


def test_the_splits_hold_every_image_once_with_its_record_label_and_thumbnail(
    raw: ShardedDataset, tmp_path: Path
) -> None:
    splits = _write(plan_splits(raw, _manifest(raw), PARAMS, NEAR_DUPLICATES), tmp_path)
    source = _records(raw)
    copied = {name: _records(split) for name, split in splits.items()}

    ids = [source_id for records in copied.values() for source_id in records]
    assert sorted(ids) == sorted(source)
    for records in copied.values():
        for source_id, (record, label) in records.items():
            assert record == source[source_id][0]
            assert label == source[source_id][1] == decode_example(record)[1]
    source_thumbnails = dict(zip(raw.index["source_id"], raw.thumbnails(), strict=True))
    for split in splits.values():
        assert split.class_names == raw.class_names
        assert split.image_shape == raw.image_shape
        assert split.meta.histograms is None
        for source_id, thumbnail in zip(split.index["source_id"], split.thumbnails(), strict=True):
            np.testing.assert_array_equal(thumbnail, source_thumbnails[source_id])
    assert [len(splits[name]) for name in SPLITS] == [72, 24, 24]
    assert splits["test"].read_images(np.arange(3)).shape == (3, 8, 8, 1)


def test_two_writes_give_identical_folders(raw: ShardedDataset, tmp_path: Path) -> None:
    first = _write(plan_splits(raw, _manifest(raw), PARAMS, NEAR_DUPLICATES), tmp_path / "a")
    again = _write(plan_splits(raw, _manifest(raw), PARAMS, NEAR_DUPLICATES), tmp_path / "b")
    for name in SPLITS:
        assert _files(first[name].folder) == _files(again[name].folder)


def test_every_shard_of_a_split_mixes_the_classes(raw: ShardedDataset, tmp_path: Path) -> None:
    assert raw.index.groupby("shard")["label"].nunique().min() == 1  # the source does not
    train = _write(plan_splits(raw, _manifest(raw), PARAMS, NEAR_DUPLICATES), tmp_path)["train"]
    classes_per_shard = train.index.groupby("shard")["label"].nunique()
    assert len(classes_per_shard) == 5
    assert classes_per_shard.min() >= 2


@pytest.mark.parametrize("brighten", [0, 3], ids=["identical", "brightened"])
def test_a_copy_lands_in_its_originals_split(tmp_path: Path, brighten: int) -> None:
    copies = np.arange(0, 120, 4)
    raw = _raw(tmp_path / "raw", _with_copies(_images(), copies, brighten))
    builds = plan_splits(raw, _manifest(raw), PARAMS, NEAR_DUPLICATES)
    ids = raw.index["source_id"].to_numpy(dtype=str)
    split_of = {ids[row]: build.name for build in builds for row in build.rows}
    assert len(split_of) == 150
    assert all(split_of[f"copy:{i}"] == split_of[f"synthetic:{i}"] for i in copies)


def test_excluded_and_unreadable_images_are_left_out(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    dataset = _images(per_class=20)
    for image, label, index in zip(dataset.images, dataset.labels, range(60), strict=True):
        path = folder / f"class_{label}" / f"img_{index:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[:, :, 0]).save(path)
    (folder / "class_1" / "broken.png").write_bytes(b"not an image")
    params = {"source": "image_folder", "path": str(folder), "image_size": None, "channels": 1}
    make_job(open_source("image_folder", folder), {**params, "images_per_shard": 16}).write(
        tmp_path / "raw"
    )
    raw = ShardedDataset(tmp_path / "raw")
    assert not raw.index.set_index("source_id").loc["class_1/broken.png", "readable"]

    excluded = ("class_0/img_005.png", "class_2/img_050.png")
    splits = _write(plan_splits(raw, _manifest(raw, excluded), PARAMS, NEAR_DUPLICATES), tmp_path)

    kept = [source_id for split in splits.values() for source_id in split.index["source_id"]]
    assert len(kept) == len(set(kept)) == 58
    assert set(kept).isdisjoint({"class_1/broken.png", *excluded})
    for split in splits.values():
        assert split.index["readable"].all()
        assert split.meta.image_shape == [8, 8, 1]
        assert split.index["height"].dtype == np.int64


def test_a_manifest_of_another_dataset_version_is_refused(tmp_path: Path) -> None:
    raw = _raw(tmp_path / "raw", _images())
    manifest = _manifest(raw)
    raw = _raw(tmp_path / "raw", _images(seed=1))

    with pytest.raises(DataValidationError) as caught:
        plan_splits(raw, manifest, PARAMS, NEAR_DUPLICATES)

    message = str(caught.value)
    assert manifest["index_sha256"] in message
    assert index_sha256(raw.folder) in message
    assert "data_validation" in message and "dvc repro" in message


def test_split_fractions_out_of_range_are_a_config_error() -> None:
    labels = np.repeat(np.arange(3), 10)
    with pytest.raises(ConfigError, match="val_fraction and test_fraction must be in"):
        assign_splits(labels, np.arange(30), {**PARAMS, "val_fraction": 0.5, "test_fraction": 0.5})
    with pytest.raises(ConfigError, match="every class needs enough distinct images"):
        assign_splits(labels, np.zeros(30, dtype=int) + labels, PARAMS)
