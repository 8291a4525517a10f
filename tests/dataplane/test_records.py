"""Shard records: TensorFlow reads what visionops writes without TensorFlow, records
round-trip, and a changed byte in a shard is caught, naming the shard."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from visionops.dataplane.ingest import write_arrays
from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.records import (
    HEADER_BYTES,
    decode_example,
    encode_example,
    frame,
    framed_example,
    iter_framed,
    read_framed,
)
from visionops.dataplane.writer import ShardWriter
from visionops.errors import SourceError
from visionops.image_dataset import ImageDataset

FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "encoding": tf.io.FixedLenFeature([], tf.string),
}


def _arrays(count: int = 9, channels: int = 3, seed: int = 0) -> ImageDataset:
    rng = np.random.default_rng(seed)
    return ImageDataset(
        images=rng.integers(0, 256, size=(count, 6, 5, channels), dtype=np.uint8),
        labels=np.arange(count, dtype=np.int64) % 3,
        class_names=("a", "b", "c"),
        source_ids=np.asarray([f"array:{number}" for number in range(count)]),
    )


def _jpeg_dataset(target: Path) -> tuple[ShardedDataset, np.ndarray]:
    """A dataset of one JPEG record, written through the shard writer."""
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    stream = io.BytesIO()
    Image.fromarray(pixels).save(stream, format="JPEG", quality=90)
    with Image.open(io.BytesIO(stream.getvalue())) as opened:
        decoded = np.asarray(opened)
    writer = ShardWriter(target, ["only", "jpeg"], images_per_shard=4)
    row = {"label": 1, "source_id": "x.jpg", "readable": True, "height": 16, "width": 16}
    row.update(channels=3, dtype="uint8")
    writer.add(row, stream.getvalue(), "jpeg", None, None)
    writer.finish({})
    return ShardedDataset(target), decoded


def test_tensorflow_parses_every_record_to_the_stored_pixels_and_label(tmp_path: Path) -> None:
    """tf.data reads the shards with TensorFlow's own Example parser; PNG records
    decode to the arrays written, labels and encodings as the index says."""
    arrays = _arrays(count=9)
    write_arrays(arrays, tmp_path / "set", images_per_shard=4)
    dataset = ShardedDataset(tmp_path / "set")
    files = [str(path) for path in dataset.shard_files()]
    parsed = [
        tf.io.parse_single_example(record, FEATURES) for record in tf.data.TFRecordDataset(files)
    ]
    assert len(parsed) == 9
    for number, example in enumerate(parsed):
        assert example["encoding"].numpy() == b"png"
        assert int(example["label"]) == arrays.labels[number]
        pixels = tf.io.decode_png(example["image"], channels=3).numpy()
        np.testing.assert_array_equal(pixels, arrays.images[number])


def test_tensorflow_decodes_a_jpeg_record_as_pillow_does(tmp_path: Path) -> None:
    """A JPEG record decodes in TensorFlow (INTEGER_ACCURATE) to Pillow's pixels."""
    dataset, decoded = _jpeg_dataset(tmp_path / "jpeg")
    (record,) = list(tf.data.TFRecordDataset([str(dataset.shard_files()[0])]))
    example = tf.io.parse_single_example(record, FEATURES)
    assert example["encoding"].numpy() == b"jpeg"
    assert int(example["label"]) == 1
    pixels = tf.io.decode_jpeg(example["image"], dct_method="INTEGER_ACCURATE").numpy()
    np.testing.assert_array_equal(pixels, decoded)
    np.testing.assert_array_equal(dataset.read_images([0])[0], decoded)


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 70_000])
@pytest.mark.parametrize("label", [0, 1, 127, 128, 2**40, -1, -(2**63)])
def test_decode_example_returns_what_was_encoded(size: int, label: int) -> None:
    image = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    for encoding in ("png", "jpeg", "raw"):
        record = encode_example(image, label, encoding)
        assert decode_example(record) == (image, label, encoding)
        framed, length = framed_example(image, label, encoding)
        assert framed == frame(record)
        assert length == len(record)


def test_a_label_outside_the_classes_is_stored_as_it_is(tmp_path: Path) -> None:
    """Bad labels (12 of 3 classes, -1) reach validation instead of failing the write:
    TensorFlow reads them back, and their rows have no class name."""
    arrays = _arrays(count=4)
    arrays.labels[1], arrays.labels[2] = 12, -1
    write_arrays(arrays, tmp_path / "set")
    dataset = ShardedDataset(tmp_path / "set")
    assert dataset.index["label"].tolist() == [0, 12, -1, 0]
    names = dataset.index["class_name"]
    assert names.isna().tolist() == [False, True, True, False]
    assert names[0] == names[3] == "a"
    files = [str(path) for path in dataset.shard_files()]
    labels = [
        int(tf.io.parse_single_example(record, FEATURES)["label"])
        for record in tf.data.TFRecordDataset(files)
    ]
    assert labels == [0, 12, -1, 0]
    with pytest.raises(ValueError, match="64-bit integer"):
        encode_example(b"pixels", 2**63, "png")


def test_bytes_that_are_no_record_are_named() -> None:
    with pytest.raises(SourceError, match="not an image record of a visionops shard"):
        decode_example(b"\x08\x96\x01")


@pytest.fixture
def shard(tmp_path: Path) -> tuple[ShardedDataset, Path]:
    write_arrays(_arrays(count=5), tmp_path / "set", images_per_shard=8)
    dataset = ShardedDataset(tmp_path / "set")
    return dataset, dataset.shard_files()[0]


def _flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_an_image_is_caught_by_read_framed(
    shard: tuple[ShardedDataset, Path],
) -> None:
    """One bit changed inside the third record fails its CRC: the error names the shard
    and the record's offset, and says to rebuild; the other records still read."""
    dataset, path = shard
    row = dataset.index.iloc[2]
    offset, length = int(row["offset"]), int(row["length"])
    _flip(path, offset + HEADER_BYTES + length // 2)
    with path.open("rb") as stream:
        with pytest.raises(SourceError) as raised:
            read_framed(stream, offset, length, str(path))
        first = dataset.index.iloc[0]
        read_framed(stream, int(first["offset"]), int(first["length"]), str(path))
    message = str(raised.value)
    assert str(path) in message
    assert f"record at byte {offset} does not match the index" in message
    assert "rebuild the dataset" in message
    with pytest.raises(SourceError, match="does not match the index"):
        dataset.read_images([2])


def test_a_flipped_byte_is_caught_by_iter_framed(shard: tuple[ShardedDataset, Path]) -> None:
    """Reading a whole shard stops at the damaged record with the shard's name."""
    dataset, path = shard
    row = dataset.index.iloc[3]
    _flip(path, int(row["offset"]) + HEADER_BYTES + 3)
    records = iter_framed(path)
    assert [decode_example(next(records))[1] for _ in range(3)] == [0, 1, 2]
    with pytest.raises(SourceError, match=f"{path}: the record at byte {int(row['offset'])}"):
        next(records)


def test_a_changed_length_and_a_truncated_shard_are_caught(
    shard: tuple[ShardedDataset, Path],
) -> None:
    dataset, path = shard
    original = path.read_bytes()
    _flip(path, 0)  # the first record's declared length
    with pytest.raises(SourceError, match=f"{path}: the record header at byte 0 is corrupt"):
        list(iter_framed(path))
    with path.open("rb") as stream, pytest.raises(SourceError, match="does not match the index"):
        first = dataset.index.iloc[0]
        read_framed(stream, 0, int(first["length"]), str(path))
    path.write_bytes(original[:-7])
    with pytest.raises(SourceError, match="shard ends before the record"):
        list(iter_framed(path))
    path.write_bytes(original)
    assert len(list(iter_framed(path))) == len(dataset)
