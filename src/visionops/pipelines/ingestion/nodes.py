"""Nodes of the ingestion pipeline."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from visionops.dataplane.ingest import IngestionJob, make_job
from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.summary import ingestion_summary
from visionops.sources import SourceImages


def ingest_images(source_images: SourceImages, params: dict[str, Any]) -> IngestionJob:
    """Plans the ingestion of the source's images with the ``ingestion`` parameters
    (image size, channels, images per shard); the raw dataset's catalog entry runs it,
    shard by shard on every core.

    When several sources are ingested together, or one is a feedback export, the
    dataset's description (``dataset.json``, carried on to the splits and into the
    lineage of the version trained on them) lists each source and the feedback it holds.

    Args:
        source_images: The images listed by the source(s) the parameters name.
        params: The ``ingestion`` parameters.
    """
    job = make_job(source_images, params)
    sources = source_images.sources
    if len(sources) > 1 or any("feedback" in source for source in sources):
        job = replace(job, description={**job.description, "sources": list(sources)})
    return job


def summarise_ingestion(raw_dataset: ShardedDataset) -> dict[str, Any]:
    """Summarises what arrived: images per class, unreadable files, formats, shards."""
    return ingestion_summary(raw_dataset)
