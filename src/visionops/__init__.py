"""visionops: a reproducible MLOps pipeline for image classifiers."""

__version__ = "0.1.0"
