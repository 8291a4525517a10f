"""Keras 3 model builders; backend-neutral (keras.layers only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras

from visionops.errors import ConfigError

PIXEL_SCALE = 1.0 / 255.0


def _pool_if_room(tensor: keras.KerasTensor) -> keras.KerasTensor:
    # Small inputs (digits are 8x8) cannot be halved three times; pool only while >= 2.
    height, width = tensor.shape[1], tensor.shape[2]
    if height >= 2 and width >= 2:
        return keras.layers.MaxPooling2D(2)(tensor)
    return tensor


def build_simple_cnn(
    image_shape: Sequence[int], num_classes: int, dropout_rate: float = 0.5
) -> keras.Model:
    """The classic small CNN: conv 32, pool, conv 64, pool, conv 128, dense 128, softmax.

    Args:
        image_shape: Height, width and channels of the input images.
        num_classes: Number of output classes.
        dropout_rate: Dropout before the output layer.

    Returns:
        An uncompiled model taking pixel values 0..255 (scaled inside the model) and
        returning class probabilities.
    """
    inputs = keras.Input(shape=tuple(image_shape), name="images")
    x = keras.layers.Rescaling(PIXEL_SCALE, name="rescale")(inputs)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = _pool_if_room(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = _pool_if_room(x)
    x = keras.layers.Conv2D(128, 3, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    x = keras.layers.Dropout(dropout_rate)(x)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name="simple_cnn")


ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {"simple_cnn": build_simple_cnn}


def build_model(
    architecture: str, image_shape: Sequence[int], num_classes: int, dropout_rate: float
) -> keras.Model:
    """Builds the architecture named by the ``training.architecture`` parameter.

    Raises:
        ConfigError: The architecture is unknown.
    """
    if architecture not in ARCHITECTURES:
        raise ConfigError(
            f"training.architecture is {architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    return ARCHITECTURES[architecture](image_shape, num_classes, dropout_rate=dropout_rate)
