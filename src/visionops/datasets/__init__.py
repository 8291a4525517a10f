"""Kedro datasets for the project's own types; kedro-datasets covers everything else."""

from visionops.datasets.file_tree import FileTreeDataset
from visionops.datasets.image_dataset_file import ImageDatasetFile
from visionops.datasets.image_source import ImageSourceDataset
from visionops.datasets.model_registry import ModelRegistryDataset
from visionops.datasets.reference_profile import ReferenceProfileDataset

__all__ = [
    "FileTreeDataset",
    "ImageDatasetFile",
    "ImageSourceDataset",
    "ModelRegistryDataset",
    "ReferenceProfileDataset",
]
