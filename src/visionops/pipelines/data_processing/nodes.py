"""Nodes of the data processing pipeline."""

from __future__ import annotations

from typing import Any

from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.splits import SplitBuild, plan_splits
from visionops.validation.leakage import check_leakage


def split_dataset(
    raw_dataset: ShardedDataset,
    validated_dataset: dict[str, Any],
    splits_suite: dict[str, Any],
    params: dict[str, Any],
    near_duplicates: dict[str, Any],
) -> tuple[SplitBuild, SplitBuild, SplitBuild, dict[str, Any]]:
    """Splits the images that passed validation into train, val and test, then checks
    for leakage.

    Args:
        raw_dataset: The dataset version that was validated.
        validated_dataset: The data validation manifest: the sha256 of the index it
            validated and the source ids it set aside.
        splits_suite: The expectation suite over all splits (no copies across them).
        params: The ``data_processing`` parameters: val_fraction, test_fraction, seed.
        near_duplicates: What makes two images near-duplicates
            (``data_validation.near_duplicates``), kept in one split.

    Returns:
        The train, val and test splits (each written as a dataset version by the
        catalog), and a summary of their sizes per class and of the leakage check.
    """
    splits = plan_splits(raw_dataset, validated_dataset, params, near_duplicates)
    leakage = check_leakage(
        raw_dataset.index,
        raw_dataset.thumbnails(),
        [split.rows for split in splits],
        splits_suite,
        near_duplicates,
    )
    summary = {split.name: split.summary() for split in splits}
    summary["leakage"] = leakage
    return splits[0], splits[1], splits[2], summary
