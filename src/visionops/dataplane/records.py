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
from pathlib import Path
from typing import BinaryIO

import google_crc32c

from visionops.errors import SourceError

# The features of every record: the encoded image, its label, and how it is encoded.
IMAGE_FEATURE, LABEL_FEATURE, ENCODING_FEATURE = "image", "label", "encoding"
# Bytes around a record's data in a TFRecord file: length and its CRC before, CRC after.
HEADER_BYTES, FOOTER_BYTES = 12, 4


def _varint(value: int) -> bytes:
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


def encode_example(image: bytes, label: int, encoding: str) -> bytes:
    """A serialized ``tf.train.Example`` with features ``encoding`` and ``image`` (a
    BytesList each) and ``label`` (an Int64List), keys in sorted order."""
    if label < 0:
        raise ValueError(f"labels are non-negative; got {label}")
    features = {
        ENCODING_FEATURE: _field(1, _field(1, encoding.encode())),
        IMAGE_FEATURE: _field(1, _field(1, image)),
        LABEL_FEATURE: _field(3, _field(1, _varint(label))),
    }
    entries = b"".join(
        _field(1, _field(1, key.encode()) + _field(2, features[key])) for key in sorted(features)
    )
    return _field(1, entries)


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
        return values[IMAGE_FEATURE], label, values[ENCODING_FEATURE].decode()
    except (ValueError, KeyError, IndexError, StopIteration, UnicodeDecodeError) as error:
        raise SourceError(f"not an image record of a visionops shard: {error}") from error


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


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
    record = entry[HEADER_BYTES : HEADER_BYTES + length]
    (crc,) = struct.unpack("<I", entry[-FOOTER_BYTES:])
    if declared != length or crc != _masked_crc(record):
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
            yield read_framed(stream, offset, length, str(path))
            offset += HEADER_BYTES + length + FOOTER_BYTES
            stream.seek(offset)
