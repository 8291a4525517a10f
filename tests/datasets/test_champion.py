"""The production version loads as the champion whichever signature layout it was exported in."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from kedro.io import DatasetError

from legacy_export import export_legacy_saved_model
from visionops.datasets.champion import ProductionModelDataset
from visionops.errors import RegistryError
from visionops.modeling.architectures import build_model
from visionops.registry.export import export_saved_model
from visionops.registry.layout import version_dir, write_models_config

SHAPE = (8, 8, 1)
CLASSES = ("a", "b", "c")


@pytest.fixture(scope="module")
def model() -> keras.Model:
    keras.utils.set_random_seed(7)
    return build_model("simple_cnn", SHAPE, len(CLASSES), width=4)


@pytest.mark.parametrize(
    "export",
    [export_saved_model, export_legacy_saved_model],
    ids=["uint8-on-serving_uint8", "uint8-on-serving_default"],
)
def test_the_champion_scores_uint8_images_through_either_layout(
    tmp_path: Path, model: keras.Model, export
) -> None:
    export(model, CLASSES, SHAPE, version_dir(tmp_path, "digits", 3))
    write_models_config(tmp_path, {"digits": {"production": 3}})
    images = np.random.default_rng(0).integers(0, 256, (300, *SHAPE), dtype=np.uint8)

    champion = ProductionModelDataset(str(tmp_path), "digits").load()

    assert champion.version == 3
    assert champion.image_shape == SHAPE
    expected = model.predict(images.astype(np.float32), verbose=0)
    np.testing.assert_allclose(champion.predict(images, batch_size=128), expected, atol=1e-5)


def test_no_production_label_means_no_champion(tmp_path: Path) -> None:
    write_models_config(tmp_path, {"digits": {}})

    assert ProductionModelDataset(str(tmp_path), "digits").load() is None


def test_a_saved_model_without_a_uint8_signature_is_refused_by_name(tmp_path: Path) -> None:
    import tensorflow as tf

    module = tf.Module()
    module.serve = tf.function(
        lambda pixels: {"probabilities": pixels},
        input_signature=[tf.TensorSpec([None, 3], tf.float32, name="pixels")],
    )
    folder = version_dir(tmp_path, "digits", 1)
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    write_models_config(tmp_path, {"digits": {"production": 1}})

    with pytest.raises(DatasetError, match="no signature taking uint8 'images'") as raised:
        ProductionModelDataset(str(tmp_path), "digits").load()
    assert isinstance(raised.value.__cause__, RegistryError)
