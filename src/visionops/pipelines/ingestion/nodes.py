"""Nodes of the ingestion pipeline."""

from __future__ import annotations

from typing import Any

from visionops.dataplane.ingest import IngestionJob, make_job
from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.summary import ingestion_summary
from visionops.sources import SourceImages


def ingest_images(source_images: SourceImages, params: dict[str, Any]) -> IngestionJob:
    """Plans the ingestion of the source's images with the ``ingestion`` parameters
    (image size, channels, images per shard); the raw dataset's catalog entry runs it,
    shard by shard on every core.

    Args:
        source_images: The images listed by the source the parameters name.
        params: The ``ingestion`` parameters.
    """
    return make_job(source_images, params)


def summarise_ingestion(raw_dataset: ShardedDataset) -> dict[str, Any]:
    """Summarises what arrived: images per class, unreadable files, formats, shards."""
    return ingestion_summary(raw_dataset)
