"""Nodes of the training pipeline."""

from __future__ import annotations

from typing import Any

import keras

from visionops.dataplane.reader import ShardedDataset
from visionops.modeling.checkpoint import CheckpointStore, EpochLog
from visionops.modeling.run import run_training


def train_model(
    train_split: ShardedDataset,
    val_split: ShardedDataset,
    training_checkpoints: CheckpointStore,
    training_live_log: EpochLog,
    params: dict[str, Any],
) -> tuple[keras.Model, list[dict[str, float]], dict[str, Any], dict[str, Any]]:
    """Trains the configured model on the train split, validating on the val split.

    Each split is decoded into memory when it fits ``cache_budget_mb``, else streamed
    from its shards. Resumes from the last finished epoch when an earlier run was
    interrupted. With ``RAY_ADDRESS`` set, ``ray_workers`` Ray Train workers train.

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
