"""The work of one shard, as run by a worker process or a Ray task."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from visionops.dataplane.cache import IngestCache, cache_key
from visionops.dataplane.images import (
    IngestSettings,
    Processed,
    process_file,
    process_pixels,
    unreadable,
)


def process_files(
    paths: list[str], settings: IngestSettings, cache_path: str | None
) -> list[tuple[str, Processed, bool]]:
    """Processes image files, reusing cached work for files whose bytes it has seen.

    Returns:
        For each file, in order: the sha256 of its bytes, the processed image, and
        whether it came from the cache.
    """
    cache = IngestCache(Path(cache_path)) if cache_path else None
    digest = settings.digest()
    results = []
    try:
        for path in paths:
            try:
                data = Path(path).read_bytes()
            except OSError as error:
                results.append(
                    ("", unreadable(f"cannot read file: {error.strerror or error}"), False)
                )
                continue
            file_sha256 = hashlib.sha256(data).hexdigest()
            cached = cache.get(cache_key(file_sha256, digest)) if cache else None
            if cached is not None:
                results.append((file_sha256, cached, True))
            else:
                results.append((file_sha256, process_file(Path(path), settings, data), False))
    finally:
        if cache:
            cache.close()
    return results


def process_arrays(images: np.ndarray) -> list[tuple[str, Processed, bool]]:
    """Encodes and profiles images of an array source (digits, CIFAR-10, NPZ)."""
    return [("", process_pixels(image), False) for image in images]
