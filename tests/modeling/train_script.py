"""Trains on small synthetic split folders in its own process, as a test's subprocess.

Usage: python train_script.py SPLITS_DIR PARAMS_JSON OUTPUT_JSON [CHECKPOINT_DIR]

SPLITS_DIR holds the dataset versions ``train`` and ``val`` (see :func:`write_splits`).
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

from visionops.dataplane.ingest import write_arrays
from visionops.dataplane.reader import ShardedDataset
from visionops.image_dataset import ImageDataset
from visionops.modeling.checkpoint import CheckpointStore
from visionops.modeling.distribution import Placement
from visionops.modeling.trainer import train_model

# Small shards, so that a split streamed from them interleaves several.
IMAGES_PER_SHARD = 32


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


def write_split(dataset: ImageDataset, folder: Path) -> ShardedDataset:
    """``dataset`` as a dataset version at ``folder``, in shards of IMAGES_PER_SHARD."""
    write_arrays(dataset, folder, images_per_shard=IMAGES_PER_SHARD)
    return ShardedDataset(folder)


def write_splits(folder: Path) -> Path:
    """Writes the train (192 images) and val (48) splits the script trains on."""
    write_split(synthetic(192, 0), folder / "train")
    write_split(synthetic(48, 1), folder / "val")
    return folder


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
    splits = Path(sys.argv[1])
    params = json.loads(sys.argv[2])
    checkpoints = CheckpointStore(Path(sys.argv[4])) if len(sys.argv) > 4 else None
    replicas = int(os.environ.get("MIRRORED_CPUS", "0"))
    placement = mirrored_placement(replicas) if replicas else None
    result = train_model(
        ShardedDataset(splits / "train"),
        ShardedDataset(splits / "val"),
        params,
        checkpoints=checkpoints,
        placement=placement,
    )
    Path(sys.argv[3]).write_text(
        json.dumps({"metadata": result.metadata, "history": result.history})
    )


if __name__ == "__main__":
    main()
