"""Nodes of the data processing pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from visionops.errors import ConfigError, DataValidationError
from visionops.image_dataset import ImageDataset
from visionops.validation.expectations import run_suites
from visionops.validation.gate import ID_COLUMNS, format_report
from visionops.dataplane.similarity import (
    content_hashes,
    near_duplicate_groups,
    near_duplicate_pairs,
    perceptual_hashes,
)

SPLITS = ("train", "val", "test")


def assign_splits(labels: np.ndarray, groups: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Assigns each image to split 0 (train), 1 (val) or 2 (test).

    Images of one group (identical images and their near-duplicates) always land in
    the same split, so no image can leak from train into val or test. Groups are
    split stratified by label with a seeded shuffle, so the result is deterministic.

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
    _, first_index, group_of_image = np.unique(groups, return_index=True, return_inverse=True)
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


def leakage_table(splits: list[ImageDataset], near_duplicates: dict[str, Any]) -> pd.DataFrame:
    """One row per image of every split: for each, a copy of it in another split
    (``split:source_id``), exact or near, or ``""`` when there is none."""
    images = np.concatenate([split.images for split in splits])
    split_of_image = np.concatenate(
        [np.full(len(split), index) for index, split in enumerate(splits)]
    )
    source_ids = np.concatenate([split.source_ids for split in splits]).astype(str)
    names = np.asarray(
        [f"{SPLITS[s]}:{source}" for s, source in zip(split_of_image, source_ids, strict=True)]
    )
    hashes = content_hashes(images)
    exact = np.full(len(images), "", dtype=object)
    near = np.full(len(images), "", dtype=object)
    pairs = near_duplicate_pairs(
        images,
        perceptual_hashes(images),
        int(near_duplicates["max_hash_distance"]),
        float(near_duplicates["min_correlation"]),
    )
    for first, second in pairs:
        if split_of_image[first] == split_of_image[second]:
            continue
        column = exact if hashes[first] == hashes[second] else near
        column[first] = column[first] or names[second]
        column[second] = column[second] or names[first]
    return pd.DataFrame(
        {
            "source_id": names,
            "split": [SPLITS[index] for index in split_of_image],
            "sha256": hashes,
            "exact_copy_in_other_split": exact,
            "near_copy_in_other_split": near,
        }
    )


def check_leakage(
    splits: list[ImageDataset], splits_suite: dict[str, Any], near_duplicates: dict[str, Any]
) -> dict[str, Any]:
    """Runs the splits suite: no image, nor a near-duplicate of it, in two splits.

    Returns:
        The suite's summary.

    Raises:
        DataValidationError: An image has a copy in another split; the message names
            the pairs.
    """
    table = leakage_table(splits, near_duplicates)
    (summary,), _ = run_suites({"split_images": table}, [splits_suite], {}, ID_COLUMNS)
    if not summary["success"]:
        report = {
            "images": len(table),
            "evaluated": summary["evaluated"],
            "failed": summary["failed"],
            "suites": [summary],
            "drift": {"checks": []},
            "quarantined": [],
        }
        raise DataValidationError(format_report(report, "the train/val/test splits"))
    return summary


def split_dataset(
    validated_dataset: ImageDataset,
    splits_suite: dict[str, Any],
    params: dict[str, Any],
    near_duplicates: dict[str, Any],
) -> tuple[ImageDataset, ImageDataset, ImageDataset, dict[str, Any]]:
    """Splits the validated dataset into train, val and test, then checks for leakage.

    Args:
        validated_dataset: The dataset that passed validation.
        splits_suite: The expectation suite over all splits (no copies across them).
        params: The ``data_processing`` parameters: val_fraction, test_fraction, seed.
        near_duplicates: What makes two images near-duplicates
            (``data_validation.near_duplicates``), kept in one split.

    Returns:
        The train, val and test splits, and a summary of their sizes per class and
        of the leakage check.
    """
    images = validated_dataset.images
    groups = near_duplicate_groups(
        images,
        perceptual_hashes(images),
        int(near_duplicates["max_hash_distance"]),
        float(near_duplicates["min_correlation"]),
    )
    split_of_image = assign_splits(validated_dataset.labels, groups, params)
    splits = [validated_dataset.subset(np.flatnonzero(split_of_image == i)) for i in range(3)]
    leakage = check_leakage(splits, splits_suite, near_duplicates)
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
    summary["leakage"] = leakage
    return splits[0], splits[1], splits[2], summary
