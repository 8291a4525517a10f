"""Nodes of the data processing pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from visionops.errors import ConfigError, DataValidationError
from visionops.image_dataset import ImageDataset
from visionops.validation.profile import content_hashes

SPLITS = ("train", "val", "test")


def assign_splits(labels: np.ndarray, hashes: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Assigns each image to split 0 (train), 1 (val) or 2 (test).

    Identical images (same content hash) form one group and always land in the same
    split, so no image can leak from train into val or test. Groups are split
    stratified by label with a seeded shuffle, so the result is deterministic.

    Raises:
        ConfigError: The fractions are out of range, or a class has too few images
            to appear in every split.
    """
    val_fraction, test_fraction = float(params["val_fraction"]), float(params["test_fraction"])
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(
            "data_processing.val_fraction and test_fraction must be in (0, 1) with a sum below 1; "
            f"got {val_fraction} and {test_fraction}"
        )
    _, first_index, group_of_image = np.unique(hashes, return_index=True, return_inverse=True)
    group_labels = labels[first_index]
    groups = np.arange(len(first_index))
    seed = int(params["seed"])
    try:
        rest, test = train_test_split(
            groups, test_size=test_fraction, stratify=group_labels, random_state=seed
        )
        train, val = train_test_split(
            rest,
            test_size=val_fraction / (1 - test_fraction),
            stratify=group_labels[rest],
            random_state=seed,
        )
    except ValueError as error:
        raise ConfigError(
            f"cannot make stratified splits of {len(labels)} images: {error}; "
            "every class needs enough distinct images for train, val and test"
        ) from error
    split_of_group = np.empty(len(groups), dtype=np.int64)
    for split_index, members in enumerate((train, val, test)):
        split_of_group[members] = split_index
    return split_of_group[group_of_image]


def check_no_leakage(hashes: np.ndarray, split_of_image: np.ndarray) -> None:
    """Raises if any image content occurs in two splits, naming the hashes."""
    sets = [set(hashes[split_of_image == index]) for index in range(len(SPLITS))]
    shared = (sets[0] & sets[1]) | (sets[0] & sets[2]) | (sets[1] & sets[2])
    if shared:
        examples = ", ".join(sorted(shared)[:5])
        raise DataValidationError(
            f"{len(shared)} image(s) occur in two splits, e.g. sha256 {examples}"
        )


def split_dataset(
    validated_dataset: ImageDataset, params: dict[str, Any]
) -> tuple[ImageDataset, ImageDataset, ImageDataset, dict[str, Any]]:
    """Splits the validated dataset into train, val and test.

    Args:
        validated_dataset: The dataset that passed validation.
        params: The ``data_processing`` parameters: val_fraction, test_fraction, seed.

    Returns:
        The train, val and test splits, and a summary of their sizes per class.
    """
    hashes = content_hashes(validated_dataset.images)
    split_of_image = assign_splits(validated_dataset.labels, hashes, params)
    check_no_leakage(hashes, split_of_image)
    splits = [validated_dataset.subset(np.flatnonzero(split_of_image == i)) for i in range(3)]
    summary = {
        name: {
            "images": len(split),
            "images_per_class": dict(
                zip(
                    split.class_names,
                    np.bincount(split.labels, minlength=len(split.class_names)).tolist(),
                    strict=True,
                )
            ),
        }
        for name, split in zip(SPLITS, splits, strict=True)
    }
    return splits[0], splits[1], splits[2], summary
