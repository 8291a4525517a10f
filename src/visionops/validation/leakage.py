"""Leakage between splits: an image, or a near-copy of it, in two of train, val and test.

Works from a dataset version's index (content hashes and perceptual hashes) and its
thumbnails, so no image is decoded; the splits suite
(``conf/base/expectations/splits.json``) passes only when no image has a copy in
another split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from visionops.dataplane.similarity import hashes_from_hex, thumbnail_pairs
from visionops.errors import DataValidationError
from visionops.validation.expectations import run_suites
from visionops.validation.gate import ID_COLUMNS, format_report

SPLITS = ("train", "val", "test")


def leakage_table(
    index: pd.DataFrame,
    thumbnails: np.ndarray,
    split_rows: Sequence[np.ndarray],
    near_duplicates: dict[str, Any],
) -> pd.DataFrame:
    """One row per image of every split: for each, a copy of it in another split
    (``split:source_id``), exact or near, or ``""`` when there is none.

    Args:
        index: The dataset's index (at least source_id, sha256 and phash).
        thumbnails: Its ``[N, 256]`` thumbnails, in index order (a memory map is read
            only where two images are candidates).
        split_rows: The index rows of train, val and test, in that order.
        near_duplicates: ``max_hash_distance`` and ``min_correlation`` of
            near-duplicates.

    Returns:
        Columns source_id (``split:source_id``), split, sha256,
        exact_copy_in_other_split and near_copy_in_other_split; rows split by split.
    """
    rows = np.concatenate([np.asarray(part, dtype=np.int64).reshape(-1) for part in split_rows])
    split_of_entry = np.concatenate(
        [np.full(len(part), number, dtype=np.int64) for number, part in enumerate(split_rows)]
    )
    source_ids = index["source_id"].fillna("").to_numpy(dtype=str)[rows]
    names = np.asarray(
        [f"{SPLITS[s]}:{source}" for s, source in zip(split_of_entry, source_ids, strict=True)],
        dtype=object,
    )
    hashes = index["sha256"].fillna("").to_numpy(dtype=str)[rows]
    exact = np.full(len(rows), "", dtype=object)
    near = np.full(len(rows), "", dtype=object)
    # Exact copies: entries of one content hash in different splits.
    repeated = np.flatnonzero(pd.Series(hashes).duplicated(keep=False).to_numpy())
    for positions in pd.Series(repeated).groupby(hashes[repeated]).indices.values():
        members = repeated[positions]
        if len(set(split_of_entry[members])) > 1:
            for member in members:
                other = members[split_of_entry[members] != split_of_entry[member]][0]
                exact[member] = names[other]
    # Near copies: candidate pairs of index rows, then every pair of their entries.
    candidates = np.zeros(len(index), dtype=bool)
    candidates[rows] = True
    perceptual = np.zeros(len(index), dtype=np.uint64)
    perceptual[candidates] = hashes_from_hex(
        index["phash"].fillna("").to_numpy(dtype=str)[candidates]
    )
    pairs = thumbnail_pairs(
        perceptual,
        thumbnails,
        int(near_duplicates["max_hash_distance"]),
        float(near_duplicates["min_correlation"]),
        candidates,
    )
    involved = np.flatnonzero(np.isin(rows, pairs))
    entries_of = {
        int(row): involved[positions]
        for row, positions in pd.Series(involved).groupby(rows[involved]).indices.items()
    }
    for first_row, second_row in pairs:
        for first in entries_of[int(first_row)]:
            for second in entries_of[int(second_row)]:
                same_split = split_of_entry[first] == split_of_entry[second]
                if same_split or hashes[first] == hashes[second]:
                    continue
                near[first] = near[first] or names[second]
                near[second] = near[second] or names[first]
    return pd.DataFrame(
        {
            "source_id": names,
            "split": [SPLITS[number] for number in split_of_entry],
            "sha256": hashes,
            "exact_copy_in_other_split": exact,
            "near_copy_in_other_split": near,
        }
    )


def check_leakage(
    index: pd.DataFrame,
    thumbnails: np.ndarray,
    split_rows: Sequence[np.ndarray],
    splits_suite: dict[str, Any],
    near_duplicates: dict[str, Any],
) -> dict[str, Any]:
    """Runs the splits suite over :func:`leakage_table`: no image, nor a near-duplicate
    of it, in two splits.

    Returns:
        The suite's summary.

    Raises:
        DataValidationError: An image has a copy in another split; the message names
            both images of each pair.
    """
    table = leakage_table(index, thumbnails, split_rows, near_duplicates)
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
