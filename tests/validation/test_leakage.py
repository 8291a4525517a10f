"""Leakage between splits, found from a dataset version's index and thumbnails: a copy
of an image in another split fails the splits suite, naming both images."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from visionops.dataplane.ingest import write_arrays
from visionops.dataplane.reader import ShardedDataset
from visionops.errors import DataValidationError
from visionops.image_dataset import ImageDataset
from visionops.validation.leakage import check_leakage, leakage_table

# Train, val and test: the first 100 images, the next 30, the last 30.
SPLIT_ROWS = [np.arange(0, 100), np.arange(100, 130), np.arange(130, 160)]
FAILURE_LINE = re.compile(r"  - (?:\[\w+\] )?(?P<name>[^:]+):")


def _version(tmp_path: Path, dataset: ImageDataset, images: np.ndarray) -> ShardedDataset:
    """``dataset`` with other images, written as a dataset version."""
    changed = ImageDataset(images, dataset.labels, dataset.class_names, dataset.source_ids)
    write_arrays(changed, tmp_path / "dataset", images_per_shard=64)
    return ShardedDataset(tmp_path / "dataset")


def _failure(version: ShardedDataset, splits_suite: dict, params: dict[str, Any]) -> str:
    with pytest.raises(DataValidationError) as caught:
        check_leakage(
            version.index,
            version.thumbnails(),
            SPLIT_ROWS,
            splits_suite,
            params["near_duplicates"],
        )
    return str(caught.value)


def _failed(message: str) -> list[str]:
    return [match["name"] for line in message.splitlines() if (match := FAILURE_LINE.match(line))]


def test_the_same_image_in_train_and_test_fails_naming_both(
    tmp_path: Path, clean: ImageDataset, splits_suite: dict, params: dict[str, Any]
) -> None:
    images = clean.images.copy()
    images[130] = images[3]

    message = _failure(_version(tmp_path, clean, images), splits_suite, params)

    assert message.startswith("data validation failed on the train/val/test splits (160 images)")
    assert _failed(message) == ["expect_column_values_to_be_in_set(exact_copy_in_other_split)"]
    assert "2 of 160 rows unexpected" in message
    assert "e.g. train:synthetic:3: test:synthetic:130" in message
    assert "e.g. test:synthetic:130: train:synthetic:3" in message


@pytest.mark.parametrize("copy_kind", ["resized", "jpeg"])
def test_a_near_copy_in_another_split_fails_naming_both(
    tmp_path: Path,
    clean: ImageDataset,
    splits_suite: dict,
    params: dict[str, Any],
    make_resized_copy,
    make_jpeg_copy,
    copy_kind: str,
) -> None:
    """A 48x48 round trip, or a quality 90 JPEG, of a training image in the val split."""
    images = clean.images.copy()
    images[100] = (make_resized_copy if copy_kind == "resized" else make_jpeg_copy)(images[7])

    message = _failure(_version(tmp_path, clean, images), splits_suite, params)

    assert _failed(message) == ["expect_column_values_to_be_in_set(near_copy_in_other_split)"]
    assert "e.g. train:synthetic:7: val:synthetic:100" in message
    assert "e.g. val:synthetic:100: train:synthetic:7" in message


def test_copies_within_one_split_are_no_leakage(
    tmp_path: Path, clean: ImageDataset, splits_suite: dict, params: dict[str, Any]
) -> None:
    images = clean.images.copy()
    images[50] = images[3]
    images[60] = np.clip(images[4].astype(int) + 2, 0, 255).astype(np.uint8)
    version = _version(tmp_path, clean, images)

    summary = check_leakage(
        version.index, version.thumbnails(), SPLIT_ROWS, splits_suite, params["near_duplicates"]
    )
    table = leakage_table(
        version.index, version.thumbnails(), SPLIT_ROWS, params["near_duplicates"]
    )

    assert summary["success"] is True
    assert list(table["split"].value_counts().sort_index()) == [30, 100, 30]
    assert table["source_id"].iloc[0] == "train:synthetic:0"
    assert (table["exact_copy_in_other_split"] == "").all()
    assert (table["near_copy_in_other_split"] == "").all()
