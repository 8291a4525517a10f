"""Kedro datasets for the project's own types; kedro-datasets covers everything else."""

from visionops.datasets.image_dataset_file import ImageDatasetFile
from visionops.datasets.image_source import ImageSourceDataset
from visionops.datasets.model_registry import ModelRegistryDataset

__all__ = ["ImageDatasetFile", "ImageSourceDataset", "ModelRegistryDataset"]
