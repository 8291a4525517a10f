"""The data processing pipeline makes deterministic, stratified, leakage-free splits of
the validated dataset version, each a dataset version of its own."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kedro.runner import SequentialRunner

from visionops.dataplane.ingest import write_arrays
from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.splits import index_sha256
from visionops.errors import DataValidationError
from visionops.image_dataset import ImageDataset
from visionops.pipelines.data_processing import create_pipeline

from .conftest import build_catalog, load_parameters, load_suite, make_dataset, run_pipeline

SPLITS = ("train", "val", "test")


def _raw(folder: Path, dataset: ImageDataset) -> ShardedDataset:
    write_arrays(dataset, folder, images_per_shard=64)
    return ShardedDataset(folder)


def _inputs(raw: ShardedDataset, excluded: tuple[str, ...] = (), **overrides: object) -> dict:
    """The pipeline's inputs for ``raw``, validated with ``excluded`` set aside."""
    manifest = {
        "format": 1,
        "index_sha256": index_sha256(raw.folder),
        "images": len(raw),
        "excluded": list(excluded),
    }
    return {
        "raw_dataset": raw,
        "validated_dataset": manifest,
        "splits_suite": load_suite("splits"),
        "params:data_processing": {**load_parameters("data_processing"), **overrides},
        "params:data_validation.near_duplicates": load_parameters("data_validation")[
            "near_duplicates"
        ],
    }


def _split(folder: Path, raw: ShardedDataset, **options: Any) -> dict[str, Any]:
    """Runs the pipeline and writes each split, as the catalog does, under ``folder``."""
    outputs = run_pipeline(create_pipeline(), _inputs(raw, **options))
    for name in SPLITS:
        outputs[f"{name}_split"].write(folder / name)
        outputs[name] = ShardedDataset(folder / name)
    return outputs


def _with_copies(dataset: ImageDataset, copies: np.ndarray, brighten: int) -> ImageDataset:
    extra = np.clip(dataset.images[copies].astype(int) + brighten, 0, 255).astype(np.uint8)
    return ImageDataset(
        images=np.concatenate([dataset.images, extra]),
        labels=np.concatenate([dataset.labels, dataset.labels[copies]]),
        class_names=dataset.class_names,
        source_ids=np.concatenate([dataset.source_ids, [f"copy:{i}" for i in copies]]),
    )


def _ids(split: ShardedDataset) -> list[str]:
    return list(split.index["source_id"])


def test_splits_cover_every_image_once_and_keep_class_shares(tmp_path: Path) -> None:
    dataset = make_dataset(per_class=100)
    outputs = _split(tmp_path, _raw(tmp_path / "raw", dataset))

    ids = [source_id for name in SPLITS for source_id in _ids(outputs[name])]
    assert sorted(ids) == sorted(dataset.source_ids)
    for name in SPLITS:
        counts = np.bincount(outputs[name].labels, minlength=3)
        assert counts.max() - counts.min() <= 1, f"{name} split is not stratified: {counts}"
        assert outputs["split_summary"][name]["images"] == len(outputs[name])
        assert outputs["split_summary"][name]["images_per_class"] == dict(
            zip(outputs[name].class_names, counts.tolist(), strict=True)
        )
    assert 40 <= len(outputs["test"]) <= 50
    assert outputs["split_summary"]["leakage"]["success"] is True
    test = outputs["test"].to_memory()
    originals = dict(zip(dataset.source_ids, dataset.images, strict=True))
    assert all(
        np.array_equal(image, originals[source_id])
        for image, source_id in zip(test.images, test.source_ids, strict=True)
    )


def test_same_seed_gives_same_split_and_another_seed_a_different_one(tmp_path: Path) -> None:
    raw = _raw(tmp_path / "raw", make_dataset(per_class=100))
    first = _ids(_split(tmp_path / "first", raw)["test"])
    again = _ids(_split(tmp_path / "again", raw)["test"])
    other = _ids(_split(tmp_path / "other", raw, seed=7)["test"])
    assert first == again
    assert sorted(first) != sorted(other)


def test_images_set_aside_by_validation_are_left_out(tmp_path: Path) -> None:
    raw = _raw(tmp_path / "raw", make_dataset(per_class=60))
    outputs = _split(tmp_path, raw, excluded=("synthetic:3", "synthetic:100"))
    ids = [source_id for name in SPLITS for source_id in _ids(outputs[name])]
    assert len(ids) == 178
    assert not {"synthetic:3", "synthetic:100"} & set(ids)


@pytest.mark.parametrize("brighten", [0, 3], ids=["identical", "brightened"])
def test_copies_never_land_in_two_splits(tmp_path: Path, brighten: int) -> None:
    """An identical copy, or a brightened one (a near-duplicate), joins its original's split."""
    copies = np.arange(0, 180, 3)
    raw = _raw(tmp_path / "raw", _with_copies(make_dataset(per_class=60), copies, brighten))
    outputs = _split(tmp_path, raw)
    split_of = {source_id: name for name in SPLITS for source_id in _ids(outputs[name])}
    assert all(split_of[f"copy:{i}"] == split_of[f"synthetic:{i}"] for i in copies)
    assert outputs["split_summary"]["leakage"]["success"] is True


def test_a_dataset_changed_after_validation_is_refused(tmp_path: Path) -> None:
    raw = _raw(tmp_path / "raw", make_dataset(per_class=40))
    inputs = _inputs(raw)
    raw = _raw(tmp_path / "raw", make_dataset(per_class=40, seed=1))
    inputs["raw_dataset"] = raw
    pipeline = create_pipeline()
    catalog = build_catalog(pipeline, inputs)

    with pytest.raises(DataValidationError, match="rerun data validation"):
        SequentialRunner().run(pipeline, catalog)
    assert not catalog.exists("train_split")
