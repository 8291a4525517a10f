"""TFRecord files of ``tf.train.Example`` records, written and read without TensorFlow.

Ingestion and validation need no TensorFlow (it takes seconds to import, and a Ray
worker may not have it loaded), so the two formats are written here by hand: the
Example protobuf's wire format for the three features visionops stores, and TFRecord's
framing (length, masked CRC-32C of the length, data, masked CRC-32C of the data).
TensorFlow's own parser reads them (tests/dataplane/test_records.py), and the encoding
is deterministic, so the same images give the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import google_crc32c

from visionops.errors import SourceError

# The features of every record: the encoded image, its label, and how it is encoded.
IMAGE_FEATURE, LABEL_FEATURE, ENCODING_FEATURE = "image", "label", "encoding"
# Bytes around a record's data in a TFRecord file: length and its CRC before, CRC after.
HEADER_BYTES, FOOTER_BYTES = 12, 4
_SMALL_VARINTS = [bytes((value,)) for value in range(0x80)]
_INT64_MASK = 2**64 - 1
# A map entry's key field (number 1, length-delimited) naming the image feature.
_IMAGE_KEY = b"\x0a\x05" + IMAGE_FEATURE.encode()


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL_VARINTS[value]
    if value < 0x4000:  # two bytes: every length of an image up to 16 KiB
        return bytes((value & 0x7F | 0x80, value >> 7))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _header(number: int, size: int) -> bytes:
    """The key and length that open a length-delimited field of ``size`` bytes."""
    return _SMALL_VARINTS[number << 3 | 2] + _varint(size)


def _example_parts(image: bytes, label: int, encoding: str) -> list[bytes]:
    """A serialized ``tf.train.Example`` as pieces to join, the image not copied.

    The Example holds one ``Features`` message: a map entry per feature, keys in sorted
    order (encoding, image, label), each ``Feature`` a ``BytesList`` (field 1) or an
    ``Int64List`` (field 3) of one value.
    """
    encoding_entry, label_entry = _encoding_entry(encoding), _label_entry(label)
    # The image entry, built around the image's bytes: BytesList, Feature, map entry.
    value_header = _header(1, len(image))
    list_size = len(value_header) + len(image)
    list_header = _header(1, list_size)
    feature_size = len(list_header) + list_size
    entry_head = _IMAGE_KEY + _header(2, feature_size)
    entry_size = len(entry_head) + feature_size
    image_head = _header(1, entry_size) + entry_head + list_header + value_header
    features_size = len(encoding_entry) + len(image_head) + len(image) + len(label_entry)
    return [_header(1, features_size) + encoding_entry + image_head, image, label_entry]


@lru_cache(maxsize=16)
def _encoding_entry(encoding: str) -> bytes:
    feature = _field(1, _field(1, encoding.encode()))
    return _field(1, _field(1, ENCODING_FEATURE.encode()) + _field(2, feature))


@lru_cache(maxsize=4096)
def _label_entry(label: int) -> bytes:
    if not -(2**63) <= label < 2**63:
        raise ValueError(f"a label is a 64-bit integer; got {label}")
    # int64 as protobuf writes it: a negative value as its 64-bit two's complement (a
    # label outside the classes is stored as it is, for validation to name).
    value = _varint(label & _INT64_MASK)
    return _field(1, _field(1, LABEL_FEATURE.encode()) + _field(2, _field(3, _field(1, value))))


def encode_example(image: bytes, label: int, encoding: str) -> bytes:
    """A serialized ``tf.train.Example`` with features ``encoding`` and ``image`` (a
    BytesList each) and ``label`` (an Int64List), keys in sorted order."""
    return b"".join(_example_parts(image, label, encoding))


def framed_example(image: bytes, label: int, encoding: str) -> tuple[bytes, int]:
    """``frame(encode_example(image, label, encoding))`` with the image copied once,
    and the record's length (what the index keeps)."""
    parts = _example_parts(image, label, encoding)
    size = sum(len(part) for part in parts)
    length = struct.pack("<Q", size)
    crc = 0
    for part in parts:
        crc = google_crc32c.extend(crc, part)
    return b"".join(
        [
            length,
            struct.pack("<I", _mask(google_crc32c.value(length))),
            *parts,
            struct.pack("<I", _mask(crc)),
        ]
    ), size


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The length-delimited fields of a message (others are not written here)."""
    position = 0
    while position < len(data):
        key, position = _read_varint(data, position)
        if key & 7 != 2:
            raise ValueError(f"unexpected protobuf wire type {key & 7}")
        size, position = _read_varint(data, position)
        yield key >> 3, data[position : position + size]
        position += size


def decode_example(record: bytes) -> tuple[bytes, int, str]:
    """The image bytes, label and encoding of a record written by :func:`encode_example`.

    Raises:
        SourceError: The record is not such an Example.
    """
    values: dict[str, bytes] = {}
    try:
        for _, features in _fields(record):
            for _, entry in _fields(features):
                parts = dict(_fields(entry))
                kind, payload = next(_fields(parts[2]))
                values[parts[1].decode()] = next(_fields(payload))[1] if kind in (1, 3) else b""
        label, _ = _read_varint(values[LABEL_FEATURE], 0)
        label = label - 2**64 if label >= 2**63 else label
        return values[IMAGE_FEATURE], label, values[ENCODING_FEATURE].decode()
    except (ValueError, KeyError, IndexError, StopIteration, UnicodeDecodeError) as error:
        raise SourceError(f"not an image record of a visionops shard: {error}") from error


def _mask(crc: int) -> int:
    """TFRecord's masked CRC: rotated right by 15 bits plus a constant."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    return _mask(google_crc32c.value(data))


def frame(record: bytes) -> bytes:
    """``record`` framed as one TFRecord entry."""
    length = struct.pack("<Q", len(record))
    return (
        length
        + struct.pack("<I", _masked_crc(length))
        + record
        + struct.pack("<I", _masked_crc(record))
    )


def read_framed(stream: BinaryIO, offset: int, length: int, where: str) -> bytes:
    """The record at ``offset`` (of the entry) and ``length`` (of its data), CRC checked.

    Raises:
        SourceError: The bytes there are not that record (a changed or truncated shard).
    """
    stream.seek(offset)
    entry = stream.read(HEADER_BYTES + length + FOOTER_BYTES)
    if len(entry) != HEADER_BYTES + length + FOOTER_BYTES:
        raise SourceError(f"{where}: shard ends before the record at byte {offset}")
    (declared,) = struct.unpack("<Q", entry[:8])
    (length_crc,) = struct.unpack("<I", entry[8:HEADER_BYTES])
    record = entry[HEADER_BYTES : HEADER_BYTES + length]
    (crc,) = struct.unpack("<I", entry[-FOOTER_BYTES:])
    if declared != length or length_crc != _masked_crc(entry[:8]) or crc != _masked_crc(record):
        raise SourceError(
            f"{where}: the record at byte {offset} does not match the index (corrupt or "
            "changed shard); rebuild the dataset (dvc repro)"
        )
    return record


def iter_framed(path: Path) -> Iterator[bytes]:
    """Every record of a TFRecord file, in order, CRC checked.

    Raises:
        SourceError: The file is truncated or a CRC does not match.
    """
    with path.open("rb") as stream:
        offset = 0
        while True:
            header = stream.read(HEADER_BYTES)
            if not header:
                return
            if len(header) < HEADER_BYTES:
                raise SourceError(f"{path}: truncated record header at byte {offset}")
            (length,) = struct.unpack("<Q", header[:8])
            (length_crc,) = struct.unpack("<I", header[8:])
            if length_crc != _masked_crc(header[:8]):
                # Checked before reading on: a damaged length may be any size.
                raise SourceError(
                    f"{path}: the record header at byte {offset} is corrupt (its length "
                    "fails its CRC); rebuild the dataset (dvc repro)"
                )
            yield read_framed(stream, offset, length, str(path))
            offset += HEADER_BYTES + length + FOOTER_BYTES
            stream.seek(offset)
