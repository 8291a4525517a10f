"""Data validation: profiles images and checks them against the expectation suite."""

from visionops.pipelines.data_validation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
