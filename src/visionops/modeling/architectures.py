"""Keras 3 model builders; backend-neutral (keras.layers only).

Nothing here imports TensorFlow, so the builders run under any Keras backend (JAX,
PyTorch, TensorFlow); benchmarks/gpu_check.py relies on that on machines without
TensorFlow. Every model takes pixel values 0..255 and scales them itself, and its
output layer computes in float32, so mixed precision keeps the probabilities float32.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import keras

from visionops.errors import ConfigError

PIXEL_SCALE = 1.0 / 255.0
# The blocks are sized for 32 px images (CIFAR-10). A larger input first goes through a
# stem that halves it until neither side exceeds this; at 128 px without one, the first
# feature maps of a batch of 64 take most of a gigabyte and each step five times longer.
STEM_TARGET = 32


def _check_hyperparameters(dropout_rate: float, width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
        raise ConfigError(f"training.width is {width!r}; it must be an integer of at least 1")
    if not 0.0 <= dropout_rate < 1.0:
        raise ConfigError(
            f"training.dropout_rate is {dropout_rate!r}; it must be at least 0 and below 1"
        )


def _pool_if_room(tensor: keras.KerasTensor, name: str | None = None) -> keras.KerasTensor:
    # Small inputs (digits are 8x8) cannot be halved three times; pool only while >= 2.
    height, width = tensor.shape[1], tensor.shape[2]
    if height >= 2 and width >= 2:
        return keras.layers.MaxPooling2D(2, name=name)(tensor)
    return tensor


def _stem(tensor: keras.KerasTensor, filters: int, batch_norm: bool) -> keras.KerasTensor:
    """Strided 3x3 convolutions, each halving height and width, until neither exceeds
    :data:`STEM_TARGET`: the downsampling stem of networks for larger images (ResNet's
    is a stride-2 convolution and a stride-2 pooling). Inputs of 32 px or less get no
    layer at all, so a digits or CIFAR-10 model is as it was."""
    number = 0
    while max(tensor.shape[1], tensor.shape[2]) > STEM_TARGET:
        number += 1
        name = f"stem_{number}"
        if batch_norm:
            tensor = keras.layers.Conv2D(
                filters, 3, strides=2, padding="same", use_bias=False, name=f"{name}_conv"
            )(tensor)
            tensor = keras.layers.BatchNormalization(name=f"{name}_bn")(tensor)
            tensor = keras.layers.ReLU(name=f"{name}_relu")(tensor)
        else:
            tensor = keras.layers.Conv2D(
                filters, 3, strides=2, padding="same", activation="relu", name=name
            )(tensor)
    return tensor


def _inputs_and_scaled(
    image_shape: Sequence[int],
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    inputs = keras.Input(shape=tuple(image_shape), name="images")
    return inputs, keras.layers.Rescaling(PIXEL_SCALE, name="rescale")(inputs)


def _probabilities(tensor: keras.KerasTensor, num_classes: int) -> keras.KerasTensor:
    # float32 whatever the global dtype policy: softmax in float16 loses probability mass.
    return keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="probabilities"
    )(tensor)


def build_simple_cnn(
    image_shape: Sequence[int], num_classes: int, dropout_rate: float = 0.5, width: int = 32
) -> keras.Model:
    """The classic small CNN: conv w, pool, conv 2w, pool, conv 4w, dense 4w, softmax.

    At the default ``width`` of 32 the filters are 32, 64 and 128 and the dense layer 128.
    Inputs over 32 px first go through a stem of strided conv(w) (:func:`_stem`).

    Args:
        image_shape: Height, width and channels of the input images.
        num_classes: Number of output classes.
        dropout_rate: Dropout before the output layer, in [0, 1).
        width: Filters of the first convolution; the later layers scale with it.

    Returns:
        An uncompiled model taking pixel values 0..255 (scaled inside the model) and
        returning class probabilities.

    Raises:
        ConfigError: ``width`` is below 1 or ``dropout_rate`` is outside [0, 1).
    """
    _check_hyperparameters(dropout_rate, width)
    inputs, x = _inputs_and_scaled(image_shape)
    x = _stem(x, width, batch_norm=False)
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
    x = _pool_if_room(x)
    x = keras.layers.Conv2D(2 * width, 3, padding="same", activation="relu")(x)
    x = _pool_if_room(x)
    x = keras.layers.Conv2D(4 * width, 3, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(4 * width, activation="relu")(x)
    x = keras.layers.Dropout(dropout_rate)(x)
    return keras.Model(inputs, _probabilities(x, num_classes), name="simple_cnn")


def _conv_bn_relu(tensor: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    # No bias: the BatchNormalization that follows has its own offset (beta).
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(tensor)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _residual_block(tensor: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    x = _conv_bn_relu(tensor, filters, f"{name}_a")
    x = _conv_bn_relu(x, filters, f"{name}_b")
    return keras.layers.Add(name=f"{name}_add")([tensor, x])


def build_resnet_small(
    image_shape: Sequence[int], num_classes: int, dropout_rate: float = 0.0, width: int = 32
) -> keras.Model:
    """A ResNet-9 in the style of the DAWNBench CIFAR-10 entry (Myrtle.ai, 2018).

    prep conv(w); layer1 conv(2w), pool, residual block of two conv(2w); layer2 conv(4w),
    pool; layer3 conv(8w), pool, residual block of two conv(8w); global max pooling;
    dropout; softmax. Each conv is 3x3, without bias, followed by BatchNormalization and
    ReLU. ``width=64`` is the original network; the default of 32 is a quarter of its
    parameters. Pooling is skipped once the feature map is below 2x2 (digits are 8x8).
    Inputs over 32 px first go through a stem of strided conv(w), BN, ReLU (:func:`_stem`).

    Args:
        image_shape: Height, width and channels of the input images.
        num_classes: Number of output classes.
        dropout_rate: Dropout before the output layer, in [0, 1); 0 adds no layer.
        width: Filters of the prep convolution; the later layers scale with it.

    Returns:
        An uncompiled model taking pixel values 0..255 (scaled inside the model) and
        returning class probabilities.

    Raises:
        ConfigError: ``width`` is below 1 or ``dropout_rate`` is outside [0, 1).
    """
    _check_hyperparameters(dropout_rate, width)
    inputs, x = _inputs_and_scaled(image_shape)
    x = _stem(x, width, batch_norm=True)
    x = _conv_bn_relu(x, width, "prep")
    x = _conv_bn_relu(x, 2 * width, "layer1")
    x = _pool_if_room(x, name="layer1_pool")
    x = _residual_block(x, 2 * width, "layer1_residual")
    x = _conv_bn_relu(x, 4 * width, "layer2")
    x = _pool_if_room(x, name="layer2_pool")
    x = _conv_bn_relu(x, 8 * width, "layer3")
    x = _pool_if_room(x, name="layer3_pool")
    x = _residual_block(x, 8 * width, "layer3_residual")
    x = keras.layers.GlobalMaxPooling2D(name="global_pool")(x)
    if dropout_rate > 0:
        x = keras.layers.Dropout(dropout_rate, name="dropout")(x)
    return keras.Model(inputs, _probabilities(x, num_classes), name="resnet_small")


ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {
    "simple_cnn": build_simple_cnn,
    "resnet_small": build_resnet_small,
}


def build_model(
    architecture: str,
    image_shape: Sequence[int],
    num_classes: int,
    dropout_rate: float = 0.0,
    width: int = 32,
) -> keras.Model:
    """Builds the architecture named by the ``training.architecture`` parameter.

    Args:
        architecture: A key of :data:`ARCHITECTURES`.
        image_shape: Height, width and channels of the input images.
        num_classes: Number of output classes.
        dropout_rate: The ``training.dropout_rate`` parameter, in [0, 1).
        width: The ``training.width`` parameter: filters of the first convolution.

    Returns:
        The uncompiled model.

    Raises:
        ConfigError: The architecture is unknown, ``width`` is below 1 or
            ``dropout_rate`` is outside [0, 1).
    """
    if architecture not in ARCHITECTURES:
        raise ConfigError(
            f"training.architecture is {architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    return ARCHITECTURES[architecture](
        image_shape, num_classes, dropout_rate=dropout_rate, width=width
    )
