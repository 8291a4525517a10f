"""Evaluation: test-split metrics, confusion matrix and the blessing decision."""

from visionops.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
