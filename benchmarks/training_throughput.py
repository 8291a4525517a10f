"""Training images/s: the project's input pipeline and training loop against plain
``model.fit`` on numpy arrays, same model, data, epochs and batch size, in one run.

50,000 random 32x32x3 uint8 images, 10 classes, ``simple_cnn``, float32 on CPU. The
project trains on split folders (dataset versions, written untimed first) as the
pipeline does: decoded once into memory within ``--cache-budget-mb``, streamed from
their shards and decoded every epoch with ``--cache-budget-mb 0``. Both sides train
one warm-up epoch first (graph tracing is not throughput), then the timed epochs;
augmentation is off on both sides, so the same work is measured. Last line:
``images_per_s=<x> baseline=<y> ratio=<x/y>``.

Usage: .venv/bin/python benchmarks/training_throughput.py [--images 50000] [--epochs 2]
       [--cache-budget-mb 1024]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from visionops.dataplane.ingest import write_arrays  # noqa: E402
from visionops.dataplane.reader import ShardedDataset  # noqa: E402
from visionops.image_dataset import ImageDataset  # noqa: E402
from visionops.modeling.architectures import build_model  # noqa: E402
from visionops.modeling.trainer import train_model  # noqa: E402

BATCH_SIZE = 128


def random_split(count: int, seed: int) -> ImageDataset:
    """``count`` random CIFAR-shaped images with balanced labels."""
    rng = np.random.default_rng(seed)
    return ImageDataset(
        images=rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8),
        labels=np.arange(count, dtype=np.int64) % 10,
        class_names=tuple(str(index) for index in range(10)),
        source_ids=np.asarray([f"random:{index}" for index in range(count)]),
    )


def params(epochs: int, cache_budget_mb: float) -> dict:
    return {
        "architecture": "simple_cnn",
        "width": 32,
        "dropout_rate": 0.5,
        "epochs": epochs,
        "batch_size": BATCH_SIZE,
        "optimizer": "adam",
        "learning_rate": 0.001,
        "schedule": "constant",
        "weight_decay": 0.0,
        "label_smoothing": 0.0,
        "augmentation": {},
        "early_stopping_patience": 0,
        "precision": "float32",
        "deterministic": False,
        "cache_budget_mb": cache_budget_mb,
        "seed": 0,
        "verbose": False,
    }


def project_images_per_s(
    train: ShardedDataset, val: ShardedDataset, epochs: int, cache_budget_mb: float
) -> float:
    """Images/s of the project's loop over the timed epochs (after one warm-up epoch)."""
    warm = train_model(train, val, params(1, cache_budget_mb))
    del warm
    result = train_model(train, val, params(epochs, cache_budget_mb))
    return result.performance["train_images_per_second"]


def plain_images_per_s(train: ImageDataset, val: ImageDataset, epochs: int) -> float:
    """Images/s of plain ``model.fit`` on numpy arrays (after one warm-up epoch)."""
    keras.utils.set_random_seed(0)
    model = build_model("simple_cnn", train.image_shape, 10, dropout_rate=0.5)
    model.compile(
        optimizer=keras.optimizers.Adam(0.001),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    images, labels = train.images.astype(np.float32), train.labels
    model.fit(images, labels, batch_size=BATCH_SIZE, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(images, labels, batch_size=BATCH_SIZE, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    return len(train) * epochs / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cache-budget-mb", type=float, default=1024)
    args = parser.parse_args()
    train, val = random_split(args.images, 0), random_split(1000, 1)
    with tempfile.TemporaryDirectory() as folder:
        for name, split in (("train", train), ("val", val)):
            write_arrays(split, Path(folder) / name)
        train_split = ShardedDataset(Path(folder) / "train")
        val_split = ShardedDataset(Path(folder) / "val")
        baseline = plain_images_per_s(train, val, args.epochs)
        ours = project_images_per_s(train_split, val_split, args.epochs, args.cache_budget_mb)
    held = train.images.nbytes / 2**20 <= args.cache_budget_mb
    print(
        f"{args.images} random 32x32x3 images, simple_cnn, batch {BATCH_SIZE}, "
        f"{args.epochs} timed epochs; the project's train split "
        + ("decoded once into memory" if held else "streamed from its shards")
    )
    print(f"plain model.fit on numpy arrays: {baseline:,.0f} images/s")
    print(f"project input pipeline and loop: {ours:,.0f} images/s")
    print(f"images_per_s={ours:.0f} baseline={baseline:.0f} ratio={ours / baseline:.3f}")


if __name__ == "__main__":
    main()
