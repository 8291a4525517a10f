"""Ingestion: a source becomes a dataset version, shard by shard, on every core.

The source's images are cut into shards in a fixed order (class folders, then file
names); each shard is one task: read, decode, orient, convert, resize, encode, hash and
profile its images (:mod:`visionops.dataplane.batch`). Tasks run in parallel
(:mod:`visionops.dataplane.parallel`) and their results are written in order, so the
dataset's bytes do not depend on where or how fast each task ran.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visionops.dataplane.batch import process_arrays, process_files
from visionops.dataplane.cache import IngestCache
from visionops.dataplane.images import IngestSettings
from visionops.dataplane.layout import DatasetMeta
from visionops.dataplane.parallel import describe_engine, run_tasks
from visionops.dataplane.progress import Progress
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
    source = job.source
    per_shard = job.images_per_shard
    total = len(source)
    tasks = -(-total // per_shard)
    logger.info(
        "ingestion: %d images in %d shard(s) on %s", total, tasks, describe_engine(tasks, total)
    )
    if source.files is not None:
        if cache is not None:
            cache.open()  # before any task reads it: an unreadable file is replaced
        cache_path = None if cache is None else str(cache.path)
        arguments = (
            (
                [str(path) for path in source.files[start : start + per_shard]],
                job.settings,
                cache_path,
            )
            for start in range(0, total, per_shard)
        )
        results = run_tasks(process_files, arguments, tasks, total)
    else:
        arrays = source.arrays
        assert arrays is not None
        results = run_tasks(
            process_arrays,
            ((arrays.images[start : start + per_shard],) for start in range(0, total, per_shard)),
            tasks,
            total,
        )
    writer = ShardWriter(target, list(source.class_names), per_shard)
    progress = Progress("ingestion", total)
    reused = 0
    try:
        start = 0
        for shard in results:
            stop = start + len(shard)
            columns = dict(
                shard.columns,
                source_id=source.source_ids[start:stop],
                label=source.labels[start:stop].tolist(),
            )
            writer.add_columns(
                columns, shard.images, shard.encodings, shard.histogram, shard.thumbnails
            )
            if cache is not None and shard.cache_entries:
                cache.put_entries(shard.cache_entries)
            reused += shard.reused
            progress.advance(len(shard))
            start = stop
        meta = writer.finish(job.description)
    except BaseException:
        writer.abort()
        raise
    finally:
        if cache is not None:
            cache.close()
    progress.finish()
    if reused:
        logger.info("ingestion: reused earlier work for %d of %d images", reused, total)
    return meta


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
