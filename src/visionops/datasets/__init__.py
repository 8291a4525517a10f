"""Kedro datasets for the project's own types; kedro-datasets covers everything else.

Each is imported on first use, so that reading a report does not start TensorFlow.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_MODULES = {
    "CheckpointDataset": "visionops.datasets.training_run",
    "LiveLogDataset": "visionops.datasets.training_run",
    "FileTreeDataset": "visionops.datasets.file_tree",
    "ImageSourceDataset": "visionops.datasets.image_source",
    "KerasModelDataset": "visionops.datasets.keras_model",
    "LineageSourcesDataset": "visionops.datasets.lineage_sources",
    "ModelRegistryDataset": "visionops.datasets.model_registry",
    "ProductionModelDataset": "visionops.datasets.champion",
    "RunContextDataset": "visionops.datasets.run_context",
    "ShardedImagesDataset": "visionops.datasets.sharded_images",
    "ReferenceProfileDataset": "visionops.datasets.reference_profile",
}

__all__ = [
    "CheckpointDataset",
    "LiveLogDataset",
    "FileTreeDataset",
    "ImageSourceDataset",
    "KerasModelDataset",
    "LineageSourcesDataset",
    "ModelRegistryDataset",
    "ProductionModelDataset",
    "RunContextDataset",
    "ShardedImagesDataset",
    "ReferenceProfileDataset",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_MODULES[name]), name)
