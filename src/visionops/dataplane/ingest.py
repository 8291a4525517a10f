"""Ingestion: a source becomes a dataset version, shard by shard, on every core.

The source's images are cut into shards in a fixed order (class folders, then file
names); each shard is one task: read, decode, orient, convert, resize, encode, hash and
profile its images (:mod:`visionops.dataplane.batch`). Tasks run in parallel
(:mod:`visionops.dataplane.parallel`) and their results are written in order, so the
dataset's bytes do not depend on where or how fast each task ran.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visionops.dataplane.batch import ShardResult, process_arrays, process_files
from visionops.dataplane.cache import IngestCache, cache_key
from visionops.dataplane.images import IngestSettings
from visionops.dataplane.layout import DatasetMeta
from visionops.dataplane.parallel import describe_engine, run_tasks
from visionops.dataplane.progress import Progress
from visionops.dataplane.reuse import ShardCache, shard_bounds, shard_cache_folder, shard_signature
from visionops.dataplane.writer import DEFAULT_IMAGES_PER_SHARD, ShardWriter
from visionops.errors import ConfigError
from visionops.image_dataset import ImageDataset
from visionops.sources import SourceImages

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestionJob:
    """A source to ingest and how; :meth:`write` does it.

    Attributes:
        source: The source's images (a listing of files, or arrays).
        settings: Size and channels every image is stored with.
        images_per_shard: Rows per shard.
        description: What was ingested, kept in ``dataset.json``.
    """

    source: SourceImages
    settings: IngestSettings
    images_per_shard: int
    description: dict[str, Any]

    def write(self, target: Path, cache: IngestCache | None = None) -> DatasetMeta:
        """Ingests into ``target`` (replaced only when complete)."""
        return ingest(self, target, cache)


def make_job(source: SourceImages, params: dict[str, Any]) -> IngestionJob:
    """The ingestion of ``source`` that the ``ingestion`` parameters ask for.

    Raises:
        ConfigError: A parameter is invalid.
    """
    per_shard = params.get("images_per_shard", DEFAULT_IMAGES_PER_SHARD)
    if not isinstance(per_shard, int) or isinstance(per_shard, bool) or per_shard < 1:
        raise ConfigError(
            f"ingestion.images_per_shard must be a whole number >= 1; got {per_shard!r}"
        )
    settings = IngestSettings.from_params(params)
    description = {
        "source": params.get("source", "digits"),
        "path": None if params.get("source", "digits") == "digits" else str(params.get("path")),
        "image_size": None if settings.image_size is None else list(settings.image_size),
        "channels": settings.channels,
    }
    return IngestionJob(source, settings, per_shard, description)


def ingest(job: IngestionJob, target: Path, cache: IngestCache | None = None) -> DatasetMeta:
    """Writes ``job``'s source as a dataset version at ``target``."""
    if job.source.files is not None:
        return _ingest_files(job, target, cache)
    return _ingest_arrays(job, target)


def _ingest_files(job: IngestionJob, target: Path, cache: IngestCache | None) -> DatasetMeta:
    """An image folder: content-defined shards, each reused whole from the shard cache
    when its files are unchanged, else processed by a task."""
    source = job.source
    assert source.files is not None
    bounds = shard_bounds(source.source_ids, job.images_per_shard)
    shards = None if cache is None else ShardCache(shard_cache_folder(cache.path))
    plan = _plan_shards(job, bounds, shards)
    fresh = [number for number, (_, found) in enumerate(plan) if not found]
    fresh_images = sum(bounds[number][1] - bounds[number][0] for number in fresh)
    logger.info(
        "ingestion: %d images in %d shard(s), %d to process on %s",
        len(source),
        len(bounds),
        len(fresh),
        describe_engine(len(fresh), fresh_images),
    )
    if cache is not None:
        cache.open()  # before any task reads it: an unreadable file is replaced
    cache_path = None if cache is None else str(cache.path)
    arguments = [
        ([str(path) for path in source.files[start:stop]], job.settings, cache_path)
        for start, stop in bounds
    ]
    results = run_tasks(
        process_files, (arguments[number] for number in fresh), len(fresh), fresh_images
    )
    writer = ShardWriter(target, list(source.class_names), job.images_per_shard, bounds)
    meta = _write_file_shards(job, writer, bounds, plan, results, arguments, cache, shards)
    if shards is not None:
        shards.keep_only_used()
    return meta


def _ingest_arrays(job: IngestionJob, target: Path) -> DatasetMeta:
    """An array source (digits, CIFAR-10, NPZ): shards of ``images_per_shard`` rows."""
    source, per_shard = job.source, job.images_per_shard
    arrays = source.arrays
    assert arrays is not None
    total = len(source)
    tasks = -(-total // per_shard)
    logger.info(
        "ingestion: %d images in %d shard(s) on %s", total, tasks, describe_engine(tasks, total)
    )
    results = run_tasks(
        process_arrays,
        ((arrays.images[start : start + per_shard],) for start in range(0, total, per_shard)),
        tasks,
        total,
    )
    writer = ShardWriter(target, list(source.class_names), per_shard)
    return _write_array_shards(job, writer, results)


def _plan_shards(
    job: IngestionJob, bounds: list[tuple[int, int]], shards: ShardCache | None
) -> list[tuple[str | None, bool]]:
    """Each shard's signature (None: not to be cached) and whether the shard cache has
    it."""
    source = job.source
    assert source.files is not None
    if shards is None:
        return [(None, False)] * len(bounds)
    digest = job.settings.digest()
    labels = source.labels.tolist()
    plan = []
    for start, stop in bounds:
        signature = shard_signature(
            digest,
            source.source_ids[start:stop],
            labels[start:stop],
            source.class_names,
            source.files[start:stop],
        )
        plan.append((signature, signature is not None and shards.has(signature)))
    return plan


def _write_file_shards(
    job: IngestionJob,
    writer: ShardWriter,
    bounds: list[tuple[int, int]],
    plan: list[tuple[str | None, bool]],
    results: Iterator[ShardResult],
    arguments: list[tuple[list[str], IngestSettings, str | None]],
    cache: IngestCache | None,
    shards: ShardCache | None,
) -> DatasetMeta:
    """Writes each shard of an image folder in order: linked from the shard cache where
    it has it, else from its task's results (then kept in the shard cache)."""
    source = job.source
    progress = Progress("ingestion", len(source))
    reused_images = reused_shards = 0
    file_hashes: list[str] = []  # of every file in the dataset: what the cache keeps
    try:
        for (start, stop), (signature, found), task in zip(bounds, plan, arguments, strict=True):
            entry = shards.get(signature) if found and shards and signature else None
            if entry is not None:
                writer.add_reused(entry.records, entry.rows, entry.thumbnails, entry.histogram)
                reused_shards += 1
                reused_images += stop - start
                file_hashes += entry.rows.column("file_sha256").to_pylist()
            else:
                # A shard the cache lost since planning is processed here.
                shard = next(results) if not found else process_files(*task)
                _add_results(writer, source, start, stop, shard, cache)
                reused_images += shard.reused
                file_hashes += shard.columns["file_sha256"]
                closed = writer.close_shard()
                if shards and signature and closed and all(shard.columns.get("readable", [])):
                    shards.put(signature, *closed, shard.thumbnails, shard.histogram)
            progress.advance(stop - start)
        meta = writer.finish(job.description)
        if cache is not None:
            _prune(cache, file_hashes, job.settings.digest())
    except BaseException:
        writer.abort()
        raise
    finally:
        if cache is not None:
            cache.close()
    progress.finish()
    if reused_shards:
        logger.info(
            "ingestion: %d of %d shard(s) unchanged since the last run, reused whole",
            reused_shards,
            len(bounds),
        )
    if reused_images:
        logger.info(
            "ingestion: reused earlier work for %d of %d images", reused_images, len(source)
        )
    return meta


def _prune(cache: IngestCache, file_hashes: list[str], settings_digest: str) -> None:
    """Keeps in ``cache`` only the entries of the files just ingested."""
    removed = cache.keep_only(
        cache_key(file_hash, settings_digest) for file_hash in file_hashes if file_hash
    )
    if removed:
        logger.info(
            "ingestion: %d cache entries of files no longer in the dataset removed", removed
        )


def _write_array_shards(
    job: IngestionJob, writer: ShardWriter, results: Iterator[ShardResult]
) -> DatasetMeta:
    """Writes the shards of an array source from their tasks' results, in order."""
    progress = Progress("ingestion", len(job.source))
    try:
        start = 0
        for shard in results:
            _add_results(writer, job.source, start, start + len(shard), shard, None)
            progress.advance(len(shard))
            start += len(shard)
        meta = writer.finish(job.description)
    except BaseException:
        writer.abort()
        raise
    progress.finish()
    return meta


def _add_results(
    writer: ShardWriter,
    source: SourceImages,
    start: int,
    stop: int,
    shard: ShardResult,
    cache: IngestCache | None,
) -> None:
    """Appends one task's images (rows ``start`` to ``stop`` of the source)."""
    columns = dict(
        shard.columns,
        source_id=source.source_ids[start:stop],
        label=source.labels[start:stop].tolist(),
    )
    writer.add_columns(columns, shard.images, shard.encodings, shard.histogram, shard.thumbnails)
    if cache is not None and shard.cache_entries:
        cache.put_entries(shard.cache_entries)


def write_arrays(
    dataset: ImageDataset,
    target: Path,
    images_per_shard: int = DEFAULT_IMAGES_PER_SHARD,
    description: dict[str, Any] | None = None,
) -> DatasetMeta:
    """Writes in-memory images as a dataset version (lossless): what tests, the CLI
    and array sources use."""
    source = SourceImages(
        class_names=dataset.class_names,
        labels=np.asarray(dataset.labels, dtype=np.int64),
        source_ids=[str(item) for item in dataset.source_ids],
        arrays=dataset,
    )
    job = IngestionJob(source, IngestSettings(None, 3), images_per_shard, description or {})
    return ingest(job, Path(target))
