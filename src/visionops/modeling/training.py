"""Fitting a model on the train split with validation on the val split."""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from visionops.errors import ConfigError
from visionops.image_dataset import ImageDataset
from visionops.modeling.architectures import build_model

logger = logging.getLogger(__name__)


def make_dataset(
    split: ImageDataset, batch_size: int, shuffle_seed: int | None = None
) -> tf.data.Dataset:
    """A batched, prefetched tf.data pipeline over a split; shuffled when a seed is given."""
    data = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
    if shuffle_seed is not None:
        data = data.shuffle(len(split), seed=shuffle_seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def configure_determinism(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy and TensorFlow; with ``deterministic``, makes ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def fit_model(
    train: ImageDataset, val: ImageDataset, params: dict[str, Any]
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Builds, compiles and fits the model chosen by ``params``.

    Args:
        train: The training split.
        val: The validation split, used for per-epoch validation metrics.
        params: The ``training`` parameters: architecture, epochs, batch_size,
            learning_rate, dropout_rate, seed, deterministic.

    Returns:
        The trained model and its per-epoch history (loss, accuracy, val_loss, val_accuracy).
    """
    if int(params["epochs"]) < 1 or int(params["batch_size"]) < 1:
        raise ConfigError("training.epochs and training.batch_size must be at least 1")
    if train.class_names != val.class_names:
        raise ConfigError("train and val splits disagree on the class names")
    configure_determinism(int(params["seed"]), bool(params.get("deterministic", True)))
    model = build_model(
        params["architecture"],
        train.image_shape,
        len(train.class_names),
        float(params["dropout_rate"]),
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(params["learning_rate"])),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    history = model.fit(
        make_dataset(train, int(params["batch_size"]), shuffle_seed=int(params["seed"])),
        validation_data=make_dataset(val, int(params["batch_size"])),
        epochs=int(params["epochs"]),
        shuffle=False,  # the tf.data pipeline shuffles, seeded
        verbose=2,
    )
    return model, {key: [float(v) for v in values] for key, values in history.history.items()}


def predict_probabilities(model: keras.Model, split: ImageDataset, batch_size: int) -> np.ndarray:
    """Class probabilities for every image of ``split``."""
    return np.asarray(model.predict(make_dataset(split, batch_size), verbose=0))
