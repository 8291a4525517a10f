"""Fixtures for pipeline tests: small synthetic datasets and an in-memory runner."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from visionops.image_dataset import ImageDataset


def make_dataset(
    per_class: int = 40, classes: int = 3, seed: int = 0, side: int = 8
) -> ImageDataset:
    """Separable images: class k lights up band k of the image, plus noise. All distinct."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in range(classes):
        base = np.zeros((side, side, 1))
        band = side // classes
        base[label * band : (label + 1) * band] = 200.0
        noise = rng.uniform(0, 40, size=(per_class, side, side, 1))
        images.append(np.clip(base + noise, 0, 255).astype(np.uint8))
        labels.extend([label] * per_class)
    count = per_class * classes
    return ImageDataset(
        images=np.concatenate(images),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=tuple(f"class_{index}" for index in range(classes)),
        source_ids=np.asarray([f"synthetic:{index}" for index in range(count)]),
    )


@pytest.fixture
def small_dataset() -> ImageDataset:
    """120 distinct 8x8x1 images of 3 classes."""
    return make_dataset()


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so tests can read intermediate outputs."""

    def _release(self) -> None:
        pass


def build_catalog(pipeline: Pipeline, inputs: dict[str, Any]) -> DataCatalog:
    """An in-memory catalog: the given inputs, and a kept, assign-mode dataset per output."""
    catalog = DataCatalog()
    for name, value in inputs.items():
        catalog[name] = KeptDataset(value, copy_mode="assign")
    for name in pipeline.all_outputs() - set(inputs):
        catalog[name] = KeptDataset(copy_mode="assign")
    return catalog


def run_pipeline(pipeline: Pipeline, inputs: dict[str, Any]) -> dict[str, Any]:
    """Runs ``pipeline`` with SequentialRunner and returns every output's value."""
    catalog = build_catalog(pipeline, inputs)
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog[name].load() for name in pipeline.all_outputs()}


def load_parameters(name: str) -> Any:
    """The project's parameter ``name`` (a group or a value), as ``kedro run`` reads it."""
    from pathlib import Path

    from visionops.config import read_parameters

    return read_parameters(Path(__file__).parents[2])[name]


def load_suite(name: str) -> dict[str, Any]:
    """The project's expectation suite conf/base/expectations/<name>.json."""
    import json
    from pathlib import Path

    path = Path(__file__).parents[2] / "conf" / "base" / "expectations" / f"{name}.json"
    return json.loads(path.read_text())


def processing_inputs(dataset: ImageDataset, **overrides: object) -> dict[str, Any]:
    """Inputs of the data processing pipeline for ``dataset``, with the project's settings."""
    return {
        "validated_dataset": dataset,
        "splits_suite": load_suite("splits"),
        "params:data_processing": {**load_parameters("data_processing"), **overrides},
        "params:data_validation.near_duplicates": load_parameters("data_validation")[
            "near_duplicates"
        ],
    }
