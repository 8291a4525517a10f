"""Data processing: deterministic, stratified, leakage-free train/val/test splits."""

from visionops.pipelines.data_processing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
