"""KerasModelDataset: the catalog's model file, the same bytes for the same model."""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from kedro.io import DataCatalog

from visionops.datasets import KerasModelDataset
from visionops.modeling.architectures import build_model

ROOT = Path(__file__).parents[2]
IMAGE_SHAPE = (8, 8, 1)
# A zip entry's time has a 2-second resolution, so saves further apart than that differ.
LONGER_THAN_ZIP_TIME_STEP_S = 2.1


@pytest.fixture(scope="module")
def model() -> keras.Model:
    """A small compiled classifier after one training step."""
    keras.utils.set_random_seed(0)
    model = build_model("simple_cnn", IMAGE_SHAPE, num_classes=3, width=4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, *IMAGE_SHAPE)).astype(np.float32)
    model.fit(images, rng.integers(0, 3, size=16), epochs=1, batch_size=16, verbose=0)
    return model


def test_round_trip_predicts_exactly_as_saved(model: keras.Model, tmp_path: Path) -> None:
    dataset = KerasModelDataset(str(tmp_path / "06_models" / "model.keras"))
    assert not dataset.exists()
    dataset.save(model)
    assert dataset.exists()
    loaded = dataset.load()
    images = np.random.default_rng(1).integers(0, 256, size=(5, *IMAGE_SHAPE)).astype(np.float32)
    np.testing.assert_array_equal(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0)
    )
    assert loaded.optimizer is not None and loaded.compiled


def test_saving_again_later_writes_the_same_bytes(model: keras.Model, tmp_path: Path) -> None:
    dataset = KerasModelDataset(str(tmp_path / "model.keras"))
    dataset.save(model)
    first = (tmp_path / "model.keras").read_bytes()
    time.sleep(LONGER_THAN_ZIP_TIME_STEP_S)
    dataset.save(model)
    assert (tmp_path / "model.keras").read_bytes() == first
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.keras"]


def test_the_catalog_model_entry_uses_it() -> None:
    entry = yaml.safe_load((ROOT / "conf" / "base" / "catalog.yml").read_text())["model"]
    catalog = DataCatalog.from_config({"model": entry})
    assert isinstance(catalog["model"], KerasModelDataset)
    assert entry["filepath"].endswith(".keras")


def test_rejects_a_filepath_that_is_not_a_keras_file() -> None:
    with pytest.raises(ValueError, match=r"'model\.h5' must end in \.keras"):
        KerasModelDataset("model.h5")
