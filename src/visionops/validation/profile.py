"""One row per image: shape, dtype, pixel statistics per channel, hashes and label.

The profile is what the expectation suites check. It is read from a dataset version's
index, where ingestion stored each image's statistics and hashes, so validating a
dataset decodes no image: near-duplicates come from the stored perceptual hashes and
16x16 thumbnails (memory-mapped, only candidate pairs read), exact duplicates and
labels per content from the stored content hashes. Rows of images that could not be
read keep their file and label but no statistics (missing values), so expectations
other than readability skip them.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.similarity import group_pairs, hashes_from_hex, thumbnail_pairs

STATISTICS = ("min", "max", "mean", "std", "saturated_share", "finite")
_CHANNEL_COLUMN = re.compile(r"mean_c(\d+)")


def channel_columns(channels: int) -> list[str]:
    """Names of the per-channel statistics columns for ``channels`` channels."""
    return [f"{kind}_c{channel}" for channel in range(channels) for kind in ("mean", "std")]


def labels_per_content(hashes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """For each image, how many distinct labels the images with its content carry."""
    if len(hashes) == 0:
        return np.empty(0, dtype=np.int64)
    pairs = pd.DataFrame({"hash": hashes, "label": labels})
    return pairs.groupby("hash")["label"].transform("nunique").to_numpy(dtype=np.int64)


def _channel_count(index: pd.DataFrame, dataset: ShardedDataset) -> int:
    """Channels with statistics columns in the index (the dataset's when it is empty)."""
    found = [
        int(match[1]) for column in index.columns if (match := _CHANNEL_COLUMN.fullmatch(column))
    ]
    return max(found) + 1 if found else int(dataset.image_shape[2])


def _column(index: pd.DataFrame, name: str, readable: np.ndarray, fill: Any) -> np.ndarray:
    """``index[name]`` with ``fill`` in unreadable rows (and for a column it lacks)."""
    if name not in index:
        return np.full(len(index), fill, dtype=object)
    values = index[name].to_numpy(dtype=object)
    return np.where(readable, values, fill)


def _near_duplicate_groups(
    dataset: ShardedDataset,
    phashes: np.ndarray,
    readable: np.ndarray,
    near_duplicates: dict[str, Any],
) -> np.ndarray:
    """For each row, the first row of its group of near-duplicates (itself if none)."""
    hashes = np.zeros(len(phashes), dtype=np.uint64)
    if readable.any():
        hashes[readable] = hashes_from_hex(phashes[readable])
    pairs = thumbnail_pairs(
        hashes,
        dataset.thumbnails() if len(hashes) else np.empty((0, 256), dtype=np.float16),
        max_hash_distance=int(near_duplicates.get("max_hash_distance", 6)),
        min_correlation=float(near_duplicates.get("min_correlation", 0.98)),
        candidates=readable,
    )
    return group_pairs(len(hashes), pairs)


def profile_dataset(
    dataset: ShardedDataset, near_duplicates: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Profiles every image of ``dataset`` into one row, from its index.

    Args:
        dataset: A dataset version, unreadable files included.
        near_duplicates: ``max_hash_distance`` and ``min_correlation`` (see
            :func:`~visionops.dataplane.similarity.thumbnail_pairs`).

    Returns:
        One row per image, in index order: ``source_id``, ``label``, ``readable``,
        ``read_error``, ``height``, ``width``, ``channels``, ``shape`` (``HxWxC``),
        ``dtype``, the pixel statistics (:data:`STATISTICS`, then ``mean_c<k>`` and
        ``std_c<k>`` per channel), ``sha256``, ``phash``, ``duplicate_group`` (first
        image with the same content), ``near_duplicate_group`` (first image of its
        group of near-duplicates) and ``labels_per_content``.
    """
    index = dataset.index
    count = len(index)
    readable = (
        index["readable"].fillna(False).to_numpy(dtype=bool)
        if "readable" in index
        else np.zeros(count, dtype=bool)
    )
    labels = index["label"].to_numpy(dtype=np.int64) if "label" in index else np.zeros(0, np.int64)
    sides = {
        name: _column(index, name, readable, 0).astype(np.int64)
        for name in ("height", "width", "channels")
    }
    # Unreadable rows have no content: give each its own key so none groups with another.
    hashes = _column(index, "sha256", readable, "")
    hashes[~readable] = [f"unreadable:{row}" for row in np.flatnonzero(~readable)]
    hashes = hashes.astype(str)
    phashes = _column(index, "phash", readable, "").astype(str)
    _, first_index, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    statistics = {
        name: _column(index, name, readable, np.nan).astype(np.float64)
        for name in (*STATISTICS[:-1], *channel_columns(_channel_count(index, dataset)))
    }
    statistics["finite"] = _column(index, "finite", readable, True).astype(bool)
    shapes = (
        pd.Series(sides["height"]).astype(str)
        + "x"
        + pd.Series(sides["width"]).astype(str)
        + "x"
        + pd.Series(sides["channels"]).astype(str)
    )
    frame = pd.DataFrame(
        {
            "source_id": _column(index, "source_id", np.ones(count, bool), "").astype(str),
            "label": labels,
            "readable": readable,
            "read_error": _column(index, "read_error", ~readable, "").astype(str),
            **sides,
            "shape": shapes.to_numpy(dtype=str),
            "dtype": _column(index, "dtype", readable, "").astype(str),
            **{name: statistics[name] for name in STATISTICS},
            **{name: statistics[name] for name in statistics if name not in STATISTICS},
            "sha256": hashes,
            "phash": phashes,
            "duplicate_group": first_index[inverse.reshape(-1)].astype(np.int64),
            "near_duplicate_group": _near_duplicate_groups(
                dataset, phashes, readable, near_duplicates or {}
            ),
            "labels_per_content": labels_per_content(hashes, labels),
        }
    )
    if not readable.all():
        # An unreadable image has no pixels to judge: missing values, which every
        # expectation except readability skips.
        kept = ("source_id", "label", "readable", "read_error")
        judged = [column for column in frame.columns if column not in kept]
        frame[judged] = frame[judged].astype(object)
        frame.loc[~readable, judged] = None
    return frame
