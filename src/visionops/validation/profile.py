"""One row per image: its shape, dtype, pixel statistics, content hash and label."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from visionops.image_dataset import ImageDataset

PROFILE_COLUMNS = (
    "source_id",
    "label",
    "height",
    "width",
    "channels",
    "shape",
    "dtype",
    "min",
    "max",
    "mean",
    "std",
    "finite",
    "sha256",
)


def content_hashes(images: np.ndarray) -> np.ndarray:
    """sha256 of each image's shape, dtype and pixel bytes, as hex strings."""
    header = f"{images.shape[1:]}{images.dtype.str}".encode()
    return np.asarray(
        [
            hashlib.sha256(header + np.ascontiguousarray(image).tobytes()).hexdigest()
            for image in images
        ]
    )


def _chunk_statistics(chunk: np.ndarray) -> dict[str, np.ndarray]:
    flat = chunk.reshape(len(chunk), -1)
    if np.issubdtype(flat.dtype, np.floating):
        finite = np.isfinite(flat).all(axis=1)
    else:
        finite = np.ones(len(flat), dtype=bool)
    values = flat.astype(np.float64, copy=False)
    return {
        "min": values.min(axis=1),
        "max": values.max(axis=1),
        "mean": values.mean(axis=1),
        "std": values.std(axis=1),
        "finite": finite,
    }


def profile_images(dataset: ImageDataset, chunk_size: int = 8192) -> pd.DataFrame:
    """Profiles every image of ``dataset`` into one row, in chunks to bound memory.

    Args:
        dataset: The images to profile.
        chunk_size: Images converted to float at a time.

    Returns:
        A frame with the columns of :data:`PROFILE_COLUMNS`, one row per image in order.
    """
    count = len(dataset)
    height, width, channels = dataset.image_shape
    parts = [
        _chunk_statistics(dataset.images[start : start + chunk_size])
        for start in range(0, count, chunk_size)
    ]
    statistics = {
        key: np.concatenate([part[key] for part in parts]) if parts else np.empty(0)
        for key in ("min", "max", "mean", "std", "finite")
    }
    return pd.DataFrame(
        {
            "source_id": dataset.source_ids.astype(str),
            "label": dataset.labels.astype(np.int64),
            "height": np.full(count, height),
            "width": np.full(count, width),
            "channels": np.full(count, channels),
            "shape": np.full(count, f"{height}x{width}x{channels}"),
            "dtype": np.full(count, str(dataset.images.dtype)),
            **statistics,
            "finite": statistics["finite"].astype(bool),
            "sha256": content_hashes(dataset.images),
        },
        columns=list(PROFILE_COLUMNS),
    )
