"""Ingestion: reads the configured source into the raw dataset."""

from visionops.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
