"""Deployment: exports a blessed model and registers it as a new version."""

from visionops.pipelines.deployment.pipeline import create_pipeline

__all__ = ["create_pipeline"]
