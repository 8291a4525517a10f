"""Model builders: shapes, probabilities, mixed precision, backend neutrality, config errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest

from visionops.errors import ConfigError
from visionops.modeling import architectures
from visionops.modeling.architectures import ARCHITECTURES, build_model

IMAGE_SHAPES = [(8, 8, 1), (32, 32, 3)]
# simple_cnn's parameter count on digits (8x8x1, 10 classes) before `width` existed;
# the default width of 32 must keep the model exactly as it was.
SIMPLE_CNN_DIGITS_PARAMS = 159_626


@pytest.fixture
def mixed_float16() -> Iterator[None]:
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def random_images(image_shape: tuple[int, ...], count: int = 3) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(count, *image_shape), dtype=np.uint8)


@pytest.mark.parametrize("image_shape", IMAGE_SHAPES)
@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_builds_and_returns_class_probabilities(
    architecture: str, image_shape: tuple[int, ...]
) -> None:
    model = build_model(architecture, image_shape, 10, 0.25)

    probabilities = model.predict(random_images(image_shape), verbose=0)

    assert model.name == architecture
    assert model.input_shape == (None, *image_shape)
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()


def test_resnet_small_has_batch_norm_and_residual_additions() -> None:
    model = build_model("resnet_small", (32, 32, 3), 10)
    layer_types = [type(layer) for layer in model.layers]

    assert layer_types.count(keras.layers.BatchNormalization) == 8
    assert layer_types.count(keras.layers.Add) == 2
    assert all(
        not layer.use_bias for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    )


def test_resnet_small_width_64_is_dawnbench_resnet9_size() -> None:
    # The DAWNBench ResNet-9 (width 64) has about 6.57 million parameters on CIFAR-10.
    assert build_model("resnet_small", (32, 32, 3), 10, width=64).count_params() == 6_577_610


def test_simple_cnn_default_is_unchanged() -> None:
    model = build_model("simple_cnn", (8, 8, 1), 10, 0.5)

    assert model.count_params() == SIMPLE_CNN_DIGITS_PARAMS
    assert [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)] == [
        32,
        64,
        128,
    ]


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize(("side", "stems"), [(8, 0), (32, 0), (33, 1), (64, 1), (128, 2), (224, 3)])
def test_inputs_over_32_px_are_halved_by_a_stem_until_they_fit(
    architecture: str, side: int, stems: int
) -> None:
    model = build_model(architecture, (side, side // 2 + 1, 3), 10)

    stem = [layer for layer in model.layers if layer.name.startswith("stem_")]
    convolutions = [layer for layer in stem if isinstance(layer, keras.layers.Conv2D)]
    assert len(convolutions) == stems
    assert all(layer.strides == (2, 2) for layer in convolutions)
    after = (stem[-1].output.shape if stem else model.layers[1].output.shape)[1:3]
    assert max(after) <= 32
    assert max(after) > 16 or side <= 32, "halved once too often"


def test_simple_cnn_width_scales_filters() -> None:
    model = build_model("simple_cnn", (8, 8, 1), 10, width=8)

    assert [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)] == [
        8,
        16,
        32,
    ]


@pytest.mark.usefixtures("mixed_float16")
@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_mixed_precision_keeps_output_float32(architecture: str) -> None:
    model = build_model(architecture, (8, 8, 1), 10, width=8)
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]

    probabilities = model.predict(random_images((8, 8, 1)), verbose=0)

    assert all(layer.compute_dtype == "float16" for layer in convolutions)
    assert all(layer.variable_dtype == "float32" for layer in convolutions)
    assert model.output.dtype == "float32"
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_module_does_not_use_tensorflow() -> None:
    # The builders must run under JAX or PyTorch on machines that have no TensorFlow.
    source = Path(architectures.__file__).read_text(encoding="utf-8")

    assert not re.search(r"^\s*(import|from)\s+tensorflow", source, re.MULTILINE)
    assert not re.search(r"\btf\.", source)


def test_unknown_architecture_names_the_parameter_and_choices() -> None:
    with pytest.raises(ConfigError, match=r"training\.architecture.*simple_cnn, resnet_small"):
        build_model("vgg", (8, 8, 1), 10)


@pytest.mark.parametrize("width", [0, -4, 2.5, True])
@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_bad_width_is_a_config_error(architecture: str, width: object) -> None:
    with pytest.raises(ConfigError, match=r"training\.width"):
        build_model(architecture, (8, 8, 1), 10, width=width)


@pytest.mark.parametrize("dropout_rate", [-0.1, 1.0, 1.5])
@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_bad_dropout_rate_is_a_config_error(architecture: str, dropout_rate: float) -> None:
    with pytest.raises(ConfigError, match=r"training\.dropout_rate"):
        build_model(architecture, (8, 8, 1), 10, dropout_rate)
