"""tf.data input pipelines: seeded per-epoch order, stateless augmentation, batching.

Every epoch's order and augmentation derive from ``(seed, epoch)`` alone, never from
how many epochs ran before in this process: a run resumed at epoch k sees exactly
the batches an uninterrupted run sees at epoch k. All randomness is stateless
(``tf.random.stateless_*``), so it does not depend on parallelism either.

A split that fits ``cache_budget_mb`` stays in memory as one tensor and each batch
is gathered from it; a larger one is written once as TFRecord shards and streamed.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from visionops.errors import ConfigError
from visionops.image_dataset import ImageDataset

logger = logging.getLogger(__name__)

SHUFFLE_BUFFER = 10_000


def check_augmentation(augmentation: dict[str, Any]) -> None:
    """Raises ConfigError for unknown or invalid augmentation parameters."""
    known = {"flip", "translate"}
    unknown = set(augmentation) - known
    if unknown:
        raise ConfigError(
            f"training.augmentation has unknown key(s) {sorted(unknown)}; known: {sorted(known)}"
        )
    translate = augmentation.get("translate", 0)
    if not isinstance(translate, int) or translate < 0:
        raise ConfigError(
            f"training.augmentation.translate must be whole pixels >= 0; got {translate!r}"
        )


def augment_batch(images: tf.Tensor, seed: tf.Tensor, augmentation: dict[str, Any]) -> tf.Tensor:
    """Random horizontal flips and padded random translations of a ``[B, H, W, C]`` batch.

    Stateless: the result depends only on the images and ``seed`` (shape ``[2]``).
    """
    flip = bool(augmentation.get("flip", False))
    shift = int(augmentation.get("translate", 0))
    if not flip and not shift:
        return images
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    if flip:
        flips = tf.random.stateless_uniform([batch], seed=seed) < 0.5
        images = tf.where(flips[:, None, None, None], tf.reverse(images, axis=[2]), images)
    if shift:
        padded = tf.pad(images, [[0, 0], [shift, shift], [shift, shift], [0, 0]])
        offsets = tf.random.stateless_uniform(
            [batch, 2], seed=seed + 1, minval=0, maxval=2 * shift + 1, dtype=tf.int32
        )
        rows = offsets[:, :1] + tf.range(height)[None, :]
        columns = offsets[:, 1:] + tf.range(width)[None, :]
        images = tf.gather(padded, rows, axis=1, batch_dims=1)
        images = tf.gather(images, columns, axis=2, batch_dims=1)
    return images


class SplitInput:
    """One split as a source of batches: in memory when it fits, else TFRecord shards.

    Args:
        split: The split.
        batch_size: Global batch size.
        cache_budget_mb: Most megabytes of images kept in memory.
        shard_dir: Where shards go when the split does not fit.
        name: The split's name, for shard file names and messages.
    """

    def __init__(
        self,
        split: ImageDataset,
        batch_size: int,
        cache_budget_mb: float,
        shard_dir: Path | None,
        name: str,
    ) -> None:
        self.size = len(split)
        self.batch_size = batch_size
        self.image_shape = split.image_shape
        self.in_memory = split.images.nbytes <= cache_budget_mb * 2**20 or shard_dir is None
        if self.in_memory:
            self._images = tf.constant(split.images)
            self._labels = tf.constant(split.labels.astype(np.int64))
            self._files: list[str] = []
        else:
            self._files = write_shards(split, shard_dir / name)
            logger.info(
                "%s split (%.0f MB) exceeds training.cache_budget_mb=%s: streaming %d shards",
                name,
                split.images.nbytes / 2**20,
                cache_budget_mb,
                len(self._files),
            )

    def training_batches(
        self, seed: int, first_epoch: int, epochs: int, augmentation: dict[str, Any]
    ) -> tf.data.Dataset:
        """Full batches of ``(float32 images, int64 labels)`` for epochs ``first_epoch``
        to ``epochs - 1``, one after another, shuffled and augmented per epoch from
        ``(seed, epoch)`` alone. One dataset for the whole run, so prefetching goes on
        across epoch boundaries."""
        seed64 = tf.constant(seed, tf.int64)

        def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
            if self.in_memory:
                order = tf.random.experimental.stateless_shuffle(
                    tf.range(self.size, dtype=tf.int64), seed=tf.stack([seed64, epoch])
                )
                rows = tf.data.Dataset.from_tensor_slices(order)
            else:
                rows = self._stream(seed, epoch)
            batches = rows.batch(self.batch_size, drop_remainder=True).enumerate()
            return batches.map(lambda step, batch: (epoch, step, batch))

        data = tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch)
        images, labels = (self._images, self._labels) if self.in_memory else (None, None)

        def assemble(epoch: tf.Tensor, step: tf.Tensor, batch: Any) -> tuple[tf.Tensor, tf.Tensor]:
            if self.in_memory:
                batch = (tf.gather(images, batch), tf.gather(labels, batch))
            step_seed = tf.stack([seed64, epoch * 1_000_003 + step])
            return tf.cast(augment_batch(batch[0], step_seed, augmentation), tf.float32), batch[1]

        data = data.map(assemble, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return data.prefetch(tf.data.AUTOTUNE)

    def evaluation_batches(self) -> tf.data.Dataset:
        """Every image once, in order, in batches (the last may be partial)."""
        if self.in_memory:
            data = tf.data.Dataset.from_tensor_slices((self._images, self._labels))
        else:
            data = self._stream(None, None)
        data = data.batch(self.batch_size).map(
            lambda images, labels: (tf.cast(images, tf.float32), labels)
        )
        return data.prefetch(tf.data.AUTOTUNE)

    def _stream(self, seed: int | None, epoch: tf.Tensor | None) -> tf.data.Dataset:
        files = tf.constant(self._files)
        if seed is not None:
            files = tf.gather(
                files,
                tf.random.experimental.stateless_shuffle(
                    tf.range(len(self._files)), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
                ),
            )
        height, width, channels = self.image_shape
        data = tf.data.Dataset.from_tensor_slices(files).interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(4, len(self._files)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        data = data.map(
            lambda record: _parse(record, (height, width, channels)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        if seed is not None:
            # A fresh shuffle buffer per epoch: with the file order above, the epoch's
            # order depends on (seed, epoch) only.
            data = data.shuffle(SHUFFLE_BUFFER, seed=seed)
        return data


_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
}


def _parse(record: tf.Tensor, shape: tuple[int, int, int]) -> tuple[tf.Tensor, tf.Tensor]:
    example = tf.io.parse_single_example(record, _FEATURES)
    image = tf.reshape(tf.io.decode_raw(example["image"], tf.uint8), shape)
    return image, example["label"]


def write_shards(split: ImageDataset, directory: Path, images_per_shard: int = 4096) -> list[str]:
    """Writes ``split`` as TFRecord shards (uint8 pixels and a label per record).

    Existing shards of the same content are reused; the folder is rewritten otherwise.

    Raises:
        ConfigError: The split's pixels are not uint8 (only uint8 images are sharded).
    """
    if split.images.dtype != np.uint8:
        raise ConfigError(
            f"only uint8 images can be streamed from shards; got {split.images.dtype}: "
            "raise training.cache_budget_mb to keep them in memory"
        )
    count = -(-len(split) // images_per_shard)
    digest = hashlib.sha256(split.images.tobytes() + split.labels.tobytes()).hexdigest()[:16]
    marker = directory / f"complete-{len(split)}-{digest}"
    files = [str(directory / f"shard-{index:05d}.tfrecord") for index in range(count)]
    if marker.exists():
        return files
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():
        stale.unlink()
    for index, path in enumerate(files):
        with tf.io.TFRecordWriter(path) as writer:
            start = index * images_per_shard
            for image, label in zip(
                split.images[start : start + images_per_shard],
                split.labels[start : start + images_per_shard],
                strict=True,
            ):
                features = {
                    "image": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[image.tobytes()])
                    ),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                }
                writer.write(
                    tf.train.Example(
                        features=tf.train.Features(feature=features)
                    ).SerializeToString()
                )
    marker.touch()
    return files
