"""The data processing pipeline makes deterministic, stratified, leakage-free splits."""

import numpy as np
import pytest

from visionops.errors import DataValidationError
from visionops.image_dataset import ImageDataset
from visionops.pipelines.data_processing import create_pipeline
from visionops.pipelines.data_processing.nodes import check_leakage
from visionops.validation.similarity import content_hashes

from .conftest import (
    load_parameters,
    load_suite,
    make_dataset,
    processing_inputs,
    run_pipeline,
)

SPLITS_SUITE = load_suite("splits")
NEAR_DUPLICATES = load_parameters("data_validation")["near_duplicates"]


def _split(dataset: ImageDataset, **overrides: object) -> dict:
    return run_pipeline(create_pipeline(), processing_inputs(dataset, **overrides))


def test_splits_cover_every_image_once_and_keep_class_shares() -> None:
    dataset = make_dataset(per_class=100)
    outputs = _split(dataset)
    ids = np.concatenate([outputs[f"{name}_split"].source_ids for name in ("train", "val", "test")])
    assert sorted(ids) == sorted(dataset.source_ids)
    for name in ("train", "val", "test"):
        counts = np.bincount(outputs[f"{name}_split"].labels, minlength=3)
        assert counts.max() - counts.min() <= 1, f"{name} split is not stratified: {counts}"
    assert outputs["split_summary"]["test"]["images"] == len(outputs["test_split"])
    assert 40 <= len(outputs["test_split"]) <= 50


def test_same_seed_gives_same_split_and_another_seed_a_different_one() -> None:
    dataset = make_dataset(per_class=100)
    first = _split(dataset)["test_split"].source_ids
    again = _split(dataset)["test_split"].source_ids
    other = _split(dataset, seed=7)["test_split"].source_ids
    assert list(first) == list(again)
    assert list(first) != list(other)


def test_duplicate_images_never_land_in_two_splits() -> None:
    dataset = make_dataset(per_class=60)
    copies = np.arange(0, 180, 3)
    images = np.concatenate([dataset.images, dataset.images[copies]])
    labels = np.concatenate([dataset.labels, dataset.labels[copies]])
    ids = np.concatenate([dataset.source_ids, [f"copy:{i}" for i in copies]])
    outputs = _split(ImageDataset(images, labels, dataset.class_names, ids))
    hashes = [set(content_hashes(outputs[f"{n}_split"].images)) for n in ("train", "val", "test")]
    assert not hashes[0] & hashes[1]
    assert not hashes[0] & hashes[2]
    assert not hashes[1] & hashes[2]


def test_near_duplicates_stay_in_one_split() -> None:
    """A brightened copy (a near-duplicate, not an identical one) joins its original's split."""
    dataset = make_dataset(per_class=60)
    copies = np.arange(0, 180, 3)
    brighter = np.clip(dataset.images[copies].astype(int) + 3, 0, 255).astype(np.uint8)
    images = np.concatenate([dataset.images, brighter])
    labels = np.concatenate([dataset.labels, dataset.labels[copies]])
    ids = np.concatenate([dataset.source_ids, [f"copy:{i}" for i in copies]])
    outputs = _split(ImageDataset(images, labels, dataset.class_names, ids))
    split_of = {
        source: name
        for name in ("train", "val", "test")
        for source in outputs[f"{name}_split"].source_ids
    }
    assert all(split_of[f"copy:{i}"] == split_of[f"synthetic:{i}"] for i in copies)
    assert outputs["split_summary"]["leakage"]["success"] is True


def test_leakage_check_names_both_images_of_a_pair() -> None:
    dataset = make_dataset(per_class=20)
    train, test = dataset.subset(np.arange(0, 60)), dataset.subset(np.arange(30, 60))
    val = dataset.subset(np.arange(0, 0))
    with pytest.raises(DataValidationError) as caught:
        check_leakage([train, val, test], SPLITS_SUITE, NEAR_DUPLICATES)
    message = str(caught.value)
    assert "expect_column_values_to_be_in_set(exact_copy_in_other_split)" in message
    assert "train:synthetic:30: test:synthetic:30" in message
