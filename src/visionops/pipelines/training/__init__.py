"""Training: fits the configured Keras model."""

from visionops.pipelines.training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
