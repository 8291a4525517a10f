"""Nodes of the training pipeline."""

from __future__ import annotations

from typing import Any

import keras

from visionops.datasets.training_run import LiveLog
from visionops.image_dataset import ImageDataset
from visionops.modeling.checkpoint import CheckpointStore
from visionops.modeling.trainer import train_model as run_training


def train_model(
    train_split: ImageDataset,
    val_split: ImageDataset,
    training_checkpoints: CheckpointStore,
    training_live_log: LiveLog,
    params: dict[str, Any],
) -> tuple[keras.Model, list[dict[str, float]], dict[str, Any], dict[str, Any]]:
    """Trains the configured model on the train split, validating on the val split.

    Resumes from the last finished epoch when an earlier run was interrupted.

    Returns:
        The trained model (float32), one record per epoch (loss, accuracy, val_loss,
        val_accuracy, learning_rate) for ``dvc plots``, the run's metadata
        (weights sha256, epochs, best epoch, devices, strategy, precision, library
        versions), and what it measured (wall time, images/s), kept apart because it
        differs from run to run.
    """
    result = run_training(
        train_split,
        val_split,
        params,
        checkpoints=training_checkpoints,
        epoch_log=training_live_log,
    )
    return result.model, result.history, result.metadata, result.performance
