"""The work of one shard, as run by a worker process or a Ray task.

A task hands back only what the driver writes: each image's stored bytes and index
row, the shard's summed histogram and its thumbnails as one array, and ready-made
cache rows for the files it processed, so the driver's share of the work (and what
crosses between processes) stays small.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from visionops.dataplane.cache import CacheEntry, IngestCache, cache_entry, cache_key
from visionops.dataplane.images import (
    IngestSettings,
    Processed,
    finish_profiles,
    process_file,
    process_pixels,
    unreadable,
)

THUMBNAIL_VALUES = 256


def one_core() -> threadpool_limits:
    """Holds BLAS to one thread while a task runs: tasks run one per core side by side,
    and a BLAS product of a batch's signatures would otherwise start a thread per core
    that spins for work, costing each task more CPU than the product itself."""
    return threadpool_limits(limits=1, user_api="blas")


# Source files read and looked up in the cache at a time.
FILES_PER_GROUP = 256


@dataclass
class ShardResult:
    """One shard's images, processed.

    Attributes:
        images: Each image's stored bytes (empty when unreadable).
        encodings: Each image's encoding (empty when unreadable).
        columns: The index columns from processing (hashes, sizes, format,
            readability, statistics, ``file_sha256``), one value per image (None
            where an image has none, e.g. the statistics of an unreadable file).
        thumbnails: ``[images, 256]`` float16 gray thumbnails, NaN where unreadable.
        histogram: ``[channels, 256]`` uint8 value counts summed over the readable
            images, or None where there are none (or their dtype is not uint8).
        cache_entries: Cache rows for the readable files processed afresh (when the
            task was given a cache).
        reused: Images that came from the cache.
    """

    images: list[bytes] = field(default_factory=list)
    encodings: list[str] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=dict)
    thumbnails: np.ndarray = field(
        default_factory=lambda: np.empty((0, THUMBNAIL_VALUES), dtype=np.float16)
    )
    histogram: np.ndarray | None = None
    cache_entries: list[CacheEntry] = field(default_factory=list)
    reused: int = 0

    def __len__(self) -> int:
        return len(self.images)


def _collect(items: list[tuple[str, Processed]]) -> ShardResult:
    """A shard's results from each image's ``(file_sha256, processed)``."""
    thumbnails = np.full((len(items), THUMBNAIL_VALUES), np.nan, np.float16)
    histogram: np.ndarray | None = None
    keys: dict[str, None] = {}
    for number, (_, processed) in enumerate(items):
        keys.update(dict.fromkeys(processed.row))
        if processed.thumbnail is not None:
            thumbnails[number] = processed.thumbnail
        if processed.histogram is not None:
            histogram = (
                processed.histogram.astype(np.int64)
                if histogram is None
                else histogram + processed.histogram
            )
    rows = [processed.row for _, processed in items]
    columns = {key: [row.get(key) for row in rows] for key in keys}
    columns["file_sha256"] = [file_sha256 for file_sha256, _ in items]
    return ShardResult(
        images=[processed.image for _, processed in items],
        encodings=[processed.encoding for _, processed in items],
        columns=columns,
        thumbnails=thumbnails,
        histogram=histogram,
    )


def process_files(
    paths: list[str], settings: IngestSettings, cache_path: str | None
) -> ShardResult:
    """Processes image files, reusing cached work for files whose bytes it has seen.

    Files are read a group at a time (:data:`FILES_PER_GROUP`), so that memory holds
    a group of source files (photos may be megabytes each) and the shard's stored
    images, never the shard's source files.

    Args:
        paths: The shard's files, in order.
        settings: Size and channels to store them with.
        cache_path: The ingestion cache (read here, written by the driver), or None
            for no cache. It need not exist yet.
    """
    cache = IngestCache(Path(cache_path)) if cache_path else None
    items: list[tuple[str, Processed]] = []
    entries: list[CacheEntry] = []
    reused = 0
    try:
        with one_core():
            for start in range(0, len(paths), FILES_PER_GROUP):
                group = paths[start : start + FILES_PER_GROUP]
                group_items, group_entries, group_reused = _process_group(group, settings, cache)
                items += group_items
                entries += group_entries
                reused += group_reused
    finally:
        if cache is not None:
            cache.close()
    result = _collect(items)
    result.cache_entries = entries
    result.reused = reused
    return result


def _process_group(
    paths: list[str], settings: IngestSettings, cache: IngestCache | None
) -> tuple[list[tuple[str, Processed]], list[CacheEntry], int]:
    """Each file's ``(file_sha256, processed)``, the new cache rows and the count reused."""
    data: list[bytes | None] = []
    keys: list[str] = []
    digest = settings.digest()
    errors: dict[int, str] = {}
    for number, path in enumerate(paths):
        try:
            with open(path, "rb") as stream:
                content = stream.read()
        except OSError as error:
            errors[number] = f"cannot read file: {error.strerror or error}"
            content = None
        data.append(content)
        keys.append(
            "" if content is None else cache_key(hashlib.sha256(content).hexdigest(), digest)
        )
    cached: dict[str, Processed] = {}
    if cache is not None:
        readable = [number for number, key in enumerate(keys) if key]
        cached = cache.get_many(
            [keys[number] for number in readable], [data[number] for number in readable]
        )
    items: list[tuple[str, Processed]] = []
    fresh: list[tuple[str, Processed]] = []
    for number, (path, content, key) in enumerate(zip(paths, data, keys, strict=True)):
        if content is None:
            items.append(("", unreadable(errors[number])))
            continue
        found = cached.get(key)
        if found is None:
            found = process_file(Path(path), settings, content)
            fresh.append((key, found))
        items.append((key.partition(":")[0], found))
    finish_profiles([processed for _, processed in fresh])
    entries = [
        cache_entry(key, processed)
        for key, processed in fresh
        if cache is not None and processed.row.get("readable")
    ]
    return items, entries, sum(1 for key in keys if key in cached)


def process_arrays(images: np.ndarray) -> ShardResult:
    """Encodes and profiles images of an array source (digits, CIFAR-10, NPZ)."""
    with one_core():
        processed = [process_pixels(image) for image in images]
        finish_profiles(processed)
    return _collect([("", item) for item in processed])
