"""Trains on a small synthetic set in its own process, as a test's subprocess.

Usage: python train_script.py PARAMS_JSON OUTPUT_JSON [CHECKPOINT_DIR]

Writes the run's metadata and history to OUTPUT_JSON. With CHECKPOINT_DIR, checkpoints
after every epoch and resumes from there. TF_CONFIG in the environment makes it one
worker of a multi-worker run; MIRRORED_CPUS=n splits the CPU into n logical devices
and trains under MirroredStrategy across them, as on a machine with n GPUs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from visionops.image_dataset import ImageDataset
from visionops.modeling.checkpoint import CheckpointStore
from visionops.modeling.distribution import Placement
from visionops.modeling.trainer import train_model


def synthetic(count: int, seed: int) -> ImageDataset:
    """Three classes, each lighting one band of a 12x12 image, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    images = rng.integers(0, 60, size=(count, 12, 12, 1))
    for index, label in enumerate(labels):
        images[index, label * 4 : label * 4 + 4] += 150
    return ImageDataset(
        images=images.astype(np.uint8),
        labels=labels.astype(np.int64),
        class_names=("a", "b", "c"),
        source_ids=np.asarray([f"synthetic:{index}" for index in range(count)]),
    )


def mirrored_placement(replicas: int) -> Placement:
    """MirroredStrategy over ``replicas`` logical CPU devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
    )
    devices = [f"/cpu:{index}" for index in range(replicas)]
    return Placement(tf.distribute.MirroredStrategy(devices), "mirrored", devices, 1, True)


def main() -> None:
    params = json.loads(sys.argv[1])
    checkpoints = CheckpointStore(Path(sys.argv[3])) if len(sys.argv) > 3 else None
    replicas = int(os.environ.get("MIRRORED_CPUS", "0"))
    placement = mirrored_placement(replicas) if replicas else None
    result = train_model(
        synthetic(192, 0), synthetic(48, 1), params, checkpoints=checkpoints, placement=placement
    )
    Path(sys.argv[2]).write_text(
        json.dumps({"metadata": result.metadata, "history": result.history})
    )


if __name__ == "__main__":
    main()
