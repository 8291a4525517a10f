"""Nodes of the training pipeline."""

from __future__ import annotations

from typing import Any

import keras

from visionops.image_dataset import ImageDataset
from visionops.modeling.training import fit_model


def train_model(
    train_split: ImageDataset, val_split: ImageDataset, params: dict[str, Any]
) -> tuple[keras.Model, list[dict[str, float]]]:
    """Trains the configured model on the train split, validating on the val split.

    Returns:
        The trained model, and one record per epoch (loss, accuracy, val_loss,
        val_accuracy) for ``dvc plots``.
    """
    model, history = fit_model(train_split, val_split, params)
    epochs = len(next(iter(history.values()), []))
    records = [
        {"epoch": epoch + 1, **{key: values[epoch] for key, values in history.items()}}
        for epoch in range(epochs)
    ]
    return model, records
