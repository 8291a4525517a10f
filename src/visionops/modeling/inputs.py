"""tf.data input pipelines over a split's shards: seeded per-epoch order, stateless
augmentation, batching.

Every epoch's order and augmentation derive from ``(seed, epoch)`` alone, never from
how many epochs ran before in this process: a run resumed at epoch k sees exactly
the batches an uninterrupted run sees at epoch k. All randomness is stateless
(``tf.random.stateless_*``), so it does not depend on parallelism either.

A split is a dataset version (:class:`~visionops.dataplane.reader.ShardedDataset`).
One whose decoded images fit ``cache_budget_mb`` is decoded once into memory as one
tensor and each batch is gathered from it; a larger one is streamed from its own
TFRecord shards, the images decoded in the graph, in parallel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from visionops.dataplane.reader import ShardedDataset
from visionops.errors import ConfigError, SourceError

logger = logging.getLogger(__name__)

SHUFFLE_BUFFER = 10_000
# training.cache_budget_mb's default: megabytes of decoded train and val images held in
# memory together. Held, a split decodes once; streamed, every epoch, but memory holds
# only tf.data's buffers: at 200,000 images of 128 px, whose val split alone decodes to
# 1 GB, both splits stream and the whole training process peaks at 1.3 GB.
DEFAULT_CACHE_BUDGET_MB = 512
# What tf.data's autotuner may spend on buffers (prefetch, parallel decode). Its default,
# half the machine's memory, let one streamed epoch of 128 px images reach 2.4 GB.
RAM_BUDGET_BYTES = 256 * 2**20
# Shards read at once while streaming for training; their records interleave.
INTERLEAVED_SHARDS = 4
ENCODINGS = ("png", "jpeg", "raw")
# Decodes one serialized record to its image and label.
Decoder = Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]
_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "encoding": tf.io.FixedLenFeature([], tf.string),
}


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


# tf.data traces a function it maps with AutoGraph, which rewrites Python control flow on
# tensors into graph ops. These functions have none (their ``if`` tests Python values),
# and converting them, and the TensorFlow calls they make, took a second of a run's start.
_unconverted = tf.autograph.experimental.do_not_convert


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


def readable_count(split: ShardedDataset) -> int:
    """Images of ``split`` that have pixels: the records its shards hold."""
    return int(split.read_index(["readable"])["readable"].astype(bool).sum())


def decoded_megabytes(split: ShardedDataset) -> float:
    """What ``split``'s images take in memory once decoded."""
    itemsize = np.dtype(split.meta.dtype).itemsize
    return len(split) * int(np.prod(split.image_shape)) * itemsize / 2**20


def _decoder(split: ShardedDataset) -> Decoder:
    """A function decoding one serialized record to ``(image, label)``: the image in
    the split's dtype with the static shape ``split.image_shape``.

    PNG and JPEG decode as Pillow decodes them (JPEG with ``INTEGER_ACCURATE``, which
    ``tf.io.decode_image`` does not use); raw records are the tensor's bytes.

    Raises:
        SourceError: A record's encoding is not one TensorFlow can decode here.
    """
    shape = split.image_shape
    dtype = tf.as_dtype(np.dtype(split.meta.dtype))
    index = split.read_index(["readable", "encoding"])
    used = sorted(set(index.loc[index["readable"].astype(bool), "encoding"].astype(str)))
    unknown = [name for name in used if name not in ENCODINGS]
    if unknown or (dtype != tf.uint8 and used not in ([], ["raw"])):
        raise SourceError(
            f"{split.folder} stores {dtype.name} images encoded as {used}; only png, jpeg "
            "(uint8) and raw records can be decoded: rebuild the split (dvc repro)"
        )

    def png(encoded: tf.Tensor) -> tf.Tensor:
        return tf.io.decode_png(encoded, channels=shape[2], dtype=tf.uint8)

    def jpeg(encoded: tf.Tensor) -> tf.Tensor:
        return tf.io.decode_jpeg(encoded, channels=shape[2], dct_method="INTEGER_ACCURATE")

    def raw(encoded: tf.Tensor) -> tf.Tensor:
        return tf.reshape(tf.io.decode_raw(encoded, dtype), shape)

    decoders = {"png": png, "jpeg": jpeg, "raw": raw}

    def decode(record: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        example = tf.io.parse_single_example(record, _FEATURES)
        encoded = example["image"]
        if len(used) <= 1:
            image = decoders[used[0] if used else "raw"](encoded)
        else:
            image = tf.case(
                [
                    (tf.equal(example["encoding"], name), lambda name=name: decoders[name](encoded))
                    for name in used[:-1]
                ],
                default=lambda: decoders[used[-1]](encoded),
            )
        return tf.ensure_shape(image, shape), example["label"]

    return decode


def stream_records(split: ShardedDataset, file_order: tf.Tensor | None = None) -> tf.data.Dataset:
    """``(image, int64 label)`` pairs of every readable image of ``split``, decoded in
    parallel in the graph.

    Args:
        split: The split.
        file_order: A permutation of the shard numbers: read in that order, several
            shards at once, their records interleaved. None reads the shards one
            after another: the index's order.

    Raises:
        SourceError: The split's records cannot be decoded.
    """
    return _records(split, _decoder(split), file_order)


def _records(
    split: ShardedDataset,
    decode: Decoder,
    file_order: tf.Tensor | None,
    shuffle_seed: tf.Tensor | None = None,
) -> tf.data.Dataset:
    files = [str(path) for path in split.shard_files()]
    if not files:
        dtype = tf.as_dtype(np.dtype(split.meta.dtype))
        return tf.data.Dataset.from_tensor_slices(
            (tf.zeros((0, *split.image_shape), dtype), tf.zeros((0,), tf.int64))
        )
    if file_order is None:
        records = tf.data.TFRecordDataset(files)
    else:
        records = tf.data.Dataset.from_tensor_slices(tf.gather(tf.constant(files), file_order))
        records = records.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(INTERLEAVED_SHARDS, len(files)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    if shuffle_seed is not None:
        records = _shuffle_buffered(records, shuffle_seed)
    return records.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _shuffle_buffered(records: tf.data.Dataset, seed: tf.Tensor) -> tf.data.Dataset:
    """``records`` shuffled a buffer of :data:`SHUFFLE_BUFFER` at a time, each buffer by
    a stateless shuffle seeded from ``seed`` (shape ``[2]``) and its number: the order
    depends on ``seed`` alone, never on a random state another epoch has advanced.
    The buffer holds encoded records, so its memory is that of their bytes."""

    def shuffle(number: tf.Tensor, buffer: tf.Tensor) -> tf.Tensor:
        buffer_seed = tf.random.experimental.stateless_fold_in(seed, number)
        return tf.random.experimental.stateless_shuffle(buffer, seed=buffer_seed)

    return records.batch(SHUFFLE_BUFFER).enumerate().map(shuffle).unbatch()


def image_batches(split: ShardedDataset, batch_size: int) -> tf.data.Dataset:
    """The readable images of ``split`` in index order, in batches of ``batch_size``
    (the last may be partial), in the split's dtype. Its length is known, so Keras
    knows how many steps it holds; a shard that holds fewer images than the index
    says fails the iteration."""
    data = stream_records(split).apply(
        tf.data.experimental.assert_cardinality(readable_count(split))
    )
    data = data.map(lambda image, label: image)
    return _bounded(data.batch(batch_size).prefetch(tf.data.AUTOTUNE))


def _decode_all(
    split: ShardedDataset, decode: Decoder, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every readable image and label of ``split``, in index order, in one array each."""
    images = np.empty((count, *split.image_shape), dtype=np.dtype(split.meta.dtype))
    labels = np.empty(count, dtype=np.int64)
    filled = 0
    records = _records(split, decode, None).batch(1024)
    for batch_images, batch_labels in records.as_numpy_iterator():
        if filled + len(batch_images) > count:
            filled += len(batch_images)
            break
        images[filled : filled + len(batch_images)] = batch_images
        labels[filled : filled + len(batch_labels)] = batch_labels
        filled += len(batch_images)
    if filled != count:
        raise SourceError(
            f"{split.folder}: its shards hold {'more than ' if filled > count else ''}{filled} "
            f"images but its index {count} readable ones; the split is damaged: rebuild it "
            "(dvc repro)"
        )
    return images, labels


def _by_data(data: tf.data.Dataset) -> tf.data.Dataset:
    """``data`` split among workers by element, never by file: every worker gets whole
    batches of the same size, whatever the shards hold."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.autotune.ram_budget = RAM_BUDGET_BYTES
    return data.with_options(options)


def _bounded(data: tf.data.Dataset) -> tf.data.Dataset:
    """``data`` with its autotuned buffers held to :data:`RAM_BUDGET_BYTES`."""
    options = tf.data.Options()
    options.autotune.ram_budget = RAM_BUDGET_BYTES
    return data.with_options(options)


def split_inputs(
    train: ShardedDataset, val: ShardedDataset, batch_size: int, cache_budget_mb: float
) -> tuple[SplitInput, SplitInput]:
    """The train and val splits as inputs, sharing one memory budget: the train split is
    held decoded when it fits ``cache_budget_mb``, and the val split when it fits what
    is left; a split that does not fit streams from its shards."""
    train_input = SplitInput(train, batch_size, cache_budget_mb, "train")
    val_input = SplitInput(val, batch_size, cache_budget_mb - train_input.held_mb, "val")
    return train_input, val_input


class SplitInput:
    """One split as a source of batches: in memory when it fits, else streamed from
    its shards.

    Args:
        split: The split.
        batch_size: Global batch size.
        cache_budget_mb: Most megabytes of decoded images kept in memory.
        name: The split's name, for messages.

    Attributes:
        in_memory: The split is held decoded.
        held_mb: Megabytes it holds decoded (0 when streamed).

    Raises:
        SourceError: The split's records cannot be decoded, or its shards do not hold
            what its index says.
    """

    def __init__(
        self, split: ShardedDataset, batch_size: int, cache_budget_mb: float, name: str
    ) -> None:
        self.split = split
        self.size = readable_count(split)
        self.batch_size = batch_size
        self.image_shape = split.image_shape
        size_mb = decoded_megabytes(split)
        self.in_memory = size_mb <= cache_budget_mb
        self.held_mb = size_mb if self.in_memory else 0.0
        self._files = split.shard_files()
        self._decode = _decoder(split)  # an undecodable split fails here, not in an epoch
        if self.in_memory:
            images, labels = _decode_all(split, self._decode, self.size)
            self._images = tf.constant(images)
            self._labels = tf.constant(labels)
        else:
            logger.info(
                "%s split (%.0f MB decoded) exceeds the %.0f MB left of "
                "training.cache_budget_mb: streaming its %d shard(s)",
                name,
                size_mb,
                max(cache_budget_mb, 0.0),
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

        @_unconverted
        def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
            if self.in_memory:
                order = tf.random.experimental.stateless_shuffle(
                    tf.range(self.size, dtype=tf.int64), seed=tf.stack([seed64, epoch])
                )
                rows = tf.data.Dataset.from_tensor_slices(order)
            else:
                rows = self._stream(seed64, epoch)
            batches = rows.batch(self.batch_size, drop_remainder=True).enumerate()
            return batches.map(_unconverted(lambda step, batch: (epoch, step, batch)))

        data = tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch)
        images, labels = (self._images, self._labels) if self.in_memory else (None, None)

        @_unconverted
        def assemble(epoch: tf.Tensor, step: tf.Tensor, batch: Any) -> tuple[tf.Tensor, tf.Tensor]:
            if self.in_memory:
                batch = (tf.gather(images, batch), tf.gather(labels, batch))
            step_seed = tf.stack([seed64, epoch * 1_000_003 + step])
            return tf.cast(augment_batch(batch[0], step_seed, augmentation), tf.float32), batch[1]

        data = data.map(assemble, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return _by_data(data.prefetch(tf.data.AUTOTUNE))

    def evaluation_batches(self) -> tf.data.Dataset:
        """Every image once, in index order, in batches (the last may be partial)."""
        if self.in_memory:
            data = tf.data.Dataset.from_tensor_slices((self._images, self._labels))
        else:
            data = _records(self.split, self._decode, None)
        data = data.batch(self.batch_size).map(
            _unconverted(lambda images, labels: (tf.cast(images, tf.float32), labels))
        )
        return _by_data(data.prefetch(tf.data.AUTOTUNE))

    def _stream(self, seed: tf.Tensor, epoch: tf.Tensor) -> tf.data.Dataset:
        """One epoch's images and labels from the shards: the shard order shuffled from
        ``(seed, epoch)``, then their records shuffled a buffer at a time, from
        ``(seed, epoch)`` too, before they are decoded."""
        pair = tf.stack([seed, epoch])
        file_order = tf.random.experimental.stateless_shuffle(tf.range(len(self._files)), seed=pair)
        buffer_seed = tf.random.experimental.stateless_fold_in(pair, -1)
        return _records(self.split, self._decode, file_order, buffer_seed)
