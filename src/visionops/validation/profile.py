"""One row per image: shape, dtype, pixel statistics per channel, hashes and label.

The profile is what the expectation suites check. It is computed with numpy in
chunks, so a large dataset never needs more than one chunk converted to float.
Rows of images that could not be read keep their file and label but no statistics
(missing values), so expectations other than readability skip them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from visionops.image_dataset import ImageDataset
from visionops.dataplane.similarity import (
    content_hashes,
    hash_hex,
    hashes_from_gray,
    luma_weights,
    near_duplicate_groups,
)

STATISTICS = ("min", "max", "mean", "std", "saturated_share", "finite", "phash")


def channel_columns(channels: int) -> list[str]:
    """Names of the per-channel statistics columns for ``channels`` channels."""
    return [f"{kind}_c{channel}" for channel in range(channels) for kind in ("mean", "std")]


def _chunk_statistics(chunk: np.ndarray, value_range: tuple[float, float]) -> dict[str, Any]:
    count, height, width, channels = chunk.shape
    flat = chunk.reshape(count, height * width * channels)
    low, high = value_range
    if np.issubdtype(chunk.dtype, np.floating):
        finite_mask = np.isfinite(flat)
        values = np.where(finite_mask, flat, 0.0).astype(np.float64)
        finite = finite_mask.all(axis=1)
        with np.errstate(invalid="ignore"):
            minimum = np.where(finite_mask, flat, np.inf).min(axis=1).astype(np.float64)
            maximum = np.where(finite_mask, flat, -np.inf).max(axis=1).astype(np.float64)
    else:
        # float32 keeps this fast; centring on the range's middle keeps sums of
        # squares small enough that float32 loses nothing that matters.
        finite_mask = None
        values = flat.astype(np.float32)
        values -= np.float32((low + high) / 2)
        finite = np.ones(count, dtype=bool)
        minimum, maximum = flat.min(axis=1).astype(np.float64), flat.max(axis=1).astype(np.float64)
    # Per-channel sums as one matrix product: pixel i belongs to channel i % channels.
    # The gray image for the perceptual hash, from the same floats.
    gray = (values.reshape(-1, channels) @ luma_weights(channels).astype(values.dtype)).reshape(
        count, height, width
    )
    selector = np.zeros((flat.shape[1], channels), dtype=values.dtype)
    selector[np.arange(flat.shape[1]), np.arange(flat.shape[1]) % channels] = 1.0
    if finite_mask is None:
        counts = np.full((count, channels), float(height * width))
    else:
        counts = finite_mask.astype(np.float64) @ selector
    with np.errstate(invalid="ignore", divide="ignore"):
        channel_mean = (values @ selector).astype(np.float64) / counts
        channel_square = (np.square(values, out=values) @ selector).astype(np.float64) / counts
        total = counts.sum(axis=1)
        mean = (channel_mean * counts).sum(axis=1) / total
        square = (channel_square * counts).sum(axis=1) / total
    saturated = ((flat <= low) | (flat >= high)).sum(axis=1) / flat.shape[1]
    statistics: dict[str, Any] = {
        "min": minimum,
        "max": maximum,
        "mean": mean,
        "std": np.sqrt(np.maximum(square - mean * mean, 0.0)),
        "saturated_share": saturated,
        "finite": finite,
        "phash": hashes_from_gray(gray),
    }
    channel_std = np.sqrt(np.maximum(channel_square - channel_mean * channel_mean, 0.0))
    if finite_mask is None:
        statistics["mean"] = mean + (low + high) / 2
        channel_mean = channel_mean + (low + high) / 2
    for channel in range(channels):
        statistics[f"mean_c{channel}"] = channel_mean[:, channel]
        statistics[f"std_c{channel}"] = channel_std[:, channel]
    return statistics


def pixel_statistics(
    images: np.ndarray, value_range: tuple[float, float], chunk_size: int = 4096
) -> dict[str, np.ndarray]:
    """Per-image min, max, mean, std (all channels and per channel), the share of
    pixels at either end of ``value_range`` (saturated), whether all are finite, and
    the perceptual hash (``uint64``), all from one conversion of each chunk."""
    count, _, _, channels = images.shape
    names = [*STATISTICS, *channel_columns(channels)]
    if count == 0:
        empty = {name: np.empty(0) for name in names}
        return {**empty, "phash": np.empty(0, dtype=np.uint64), "finite": np.empty(0, dtype=bool)}
    parts = [
        _chunk_statistics(images[start : start + chunk_size], value_range)
        for start in range(0, count, chunk_size)
    ]
    return {name: np.concatenate([part[name] for part in parts]) for name in names}


def labels_per_content(hashes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """For each image, how many distinct labels the images with its content carry."""
    if len(hashes) == 0:
        return np.empty(0, dtype=np.int64)
    pairs = pd.DataFrame({"hash": hashes, "label": labels})
    return pairs.groupby("hash")["label"].transform("nunique").to_numpy(dtype=np.int64)


def profile_images(
    dataset: ImageDataset,
    value_range: tuple[float, float] = (0, 255),
    near_duplicates: dict[str, Any] | None = None,
    chunk_size: int = 4096,
) -> pd.DataFrame:
    """Profiles every image of ``dataset`` into one row.

    Args:
        dataset: The images to profile.
        value_range: The allowed pixel range; pixels at either end count as saturated.
        near_duplicates: ``max_hash_distance`` and ``min_correlation`` (see
            :func:`~visionops.dataplane.similarity.near_duplicate_groups`).
        chunk_size: Images converted to float at a time.

    Returns:
        One row per image, in order: ``source_id``, ``label``, ``readable``,
        ``read_error``, ``height``, ``width``, ``channels``, ``shape``, ``dtype``, the
        pixel statistics, ``sha256``, ``phash``, ``duplicate_group`` (first image with
        the same content), ``near_duplicate_group`` (first image of its group of
        near-duplicates) and ``labels_per_content``.
    """
    settings = near_duplicates or {}
    readable = dataset.readable
    shapes = dataset.shapes()
    hashes = content_hashes(dataset.images)
    # Unreadable rows are all zeros: give each its own key so none groups with another.
    hashes = np.where(readable, hashes, [f"unreadable:{i}" for i in range(len(hashes))])
    statistics = pixel_statistics(dataset.images, value_range, chunk_size)
    phashes = statistics.pop("phash")
    near_groups = near_duplicate_groups(
        dataset.images,
        phashes,
        max_hash_distance=int(settings.get("max_hash_distance", 6)),
        min_correlation=float(settings.get("min_correlation", 0.98)),
        candidates=readable,
    )
    _, first_index, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    frame = pd.DataFrame(
        {
            "source_id": dataset.source_ids.astype(str),
            "label": dataset.labels.astype(np.int64),
            "readable": readable,
            "read_error": (
                dataset.read_errors.astype(str)
                if dataset.read_errors is not None
                else np.full(len(dataset), "")
            ),
            "height": shapes[:, 0],
            "width": shapes[:, 1],
            "channels": shapes[:, 2],
            "shape": [f"{h}x{w}x{c}" for h, w, c in shapes],
            "dtype": np.full(len(dataset), str(dataset.images.dtype)),
            **statistics,
            "sha256": hashes,
            "phash": hash_hex(phashes),
            "duplicate_group": first_index[inverse.reshape(-1)].astype(np.int64),
            "near_duplicate_group": near_groups,
            "labels_per_content": labels_per_content(hashes, dataset.labels),
        }
    )
    frame["finite"] = frame["finite"].astype(bool)
    if not readable.all():
        # An unreadable image has no pixels to judge: missing values, which every
        # expectation except readability skips.
        kept = ("source_id", "label", "readable", "read_error")
        judged = [column for column in frame.columns if column not in kept]
        frame[judged] = frame[judged].astype(object)
        frame.loc[~readable, judged] = None
    return frame
