"""Prediction records: one row per predicted image, and segments of them as Parquet files.

A row holds the request id and the image's place in its request (``instance``), when it
was answered (``time``, epoch seconds), which model, version and label answered, the
sha256 of the input as sent, the predicted class and its probability and, for the
images the writer profiled (decoded), their size (0 for the others' files: not read
yet; -1: no image) and per channel how many pixels took each of the 256 values
(``value_counts``, ``uint32 [channels, 256]``: what the drift checks bin as validation
bins its histograms). When images are captured, ``image`` holds the input as sent:
the file (``encoding`` ``file``) or the raw uint8 pixels (``raw``).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, UnidentifiedImageError

from visionops.monitoring.layout import write_atomic

SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("instance", pa.int32()),
        ("seq", pa.int64()),
        ("run", pa.string()),
        ("time", pa.float64()),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("label", pa.string()),
        ("signature", pa.string()),
        ("protocol", pa.string()),
        ("sha256", pa.string()),
        ("predicted", pa.string()),
        ("confidence", pa.float32()),
        ("height", pa.int32()),
        ("width", pa.int32()),
        ("channels", pa.int32()),
        ("value_counts", pa.binary()),
        ("encoding", pa.string()),
        ("image", pa.binary()),
    ]
)
COLUMNS = tuple(SCHEMA.names)
SUMMARY_COLUMNS = tuple(name for name in COLUMNS if name != "image")
VALUES = 256
FILE, RAW = "file", "raw"
NOT_READ = (0, 0, 0)
_MODES = {1: "L", 3: "RGB"}


@dataclass(slots=True)
class Prediction:
    """One answered predict request, as the server hands it to the recorder.

    Attributes:
        request_id: The id returned to the client (``X-Request-Id``).
        time: When it was answered (epoch seconds).
        model: The model's name.
        version: The version that answered.
        label: The version label the request named; ``""`` when it named none.
        signature: The signature called.
        protocol: ``rest`` or ``grpc``.
        inputs: The image input: encoded files (``[N]`` bytes) or uint8 ``[N, H, W, C]``.
        probabilities: ``[N, classes]``.
        class_names: The predicted class of each image, or None (then its id is used).
        image_shape: Height, width and channels the model takes, when known.
    """

    request_id: str
    time: float
    model: str
    version: int
    label: str
    signature: str
    protocol: str
    inputs: np.ndarray
    probabilities: np.ndarray
    class_names: np.ndarray | None
    image_shape: tuple[int, int, int] | None

    @property
    def size(self) -> int:
        """How many images the request held."""
        return len(self.probabilities)


def decode(image: bytes, encoding: str, shape: tuple[int, int, int], channels: int | None) -> Any:
    """A stored image as uint8 ``[H, W, C]`` (None if it is no image): a file decoded and
    converted to ``channels`` (1 or 3) when given, or raw pixels of ``shape``."""
    if encoding == RAW:
        return np.frombuffer(image, dtype=np.uint8).reshape(shape)
    try:
        with Image.open(io.BytesIO(image)) as opened:
            mode = _MODES.get(channels or (1 if opened.mode in ("L", "I;16", "1") else 3))
            pixels = np.asarray(opened.convert(mode or "RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return pixels[..., np.newaxis] if pixels.ndim == 2 else pixels


def to_png(pixels: np.ndarray) -> bytes:
    """uint8 ``[H, W, C]`` pixels as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(buffer, "PNG")
    return buffer.getvalue()


def value_counts(pixels: np.ndarray) -> np.ndarray:
    """``uint32 [channels, 256]``: how many pixels of each channel take each value."""
    flat = pixels.reshape(-1, pixels.shape[-1])
    return np.stack(
        [np.bincount(flat[:, channel], minlength=VALUES) for channel in range(flat.shape[1])]
    ).astype(np.uint32)


def _size(value: Any) -> tuple[int, int, int]:
    """A raw input's shape; (0, 0, 0), not read yet, for a file (its decoding reads it)."""
    if isinstance(value, bytes):
        return NOT_READ
    shape = np.shape(value)
    return (int(shape[0]), int(shape[1]), int(shape[2])) if len(shape) == 3 else (-1, -1, -1)


def _repeat(values: list[Any], sizes: list[int], single: bool) -> list[Any]:
    """Each of ``values`` repeated as many times as its request has images."""
    if single:
        return values
    return [value for value, size in zip(values, sizes, strict=True) for _ in range(size)]


def _predicted(predictions: list[Prediction], top: np.ndarray) -> list[str]:
    """The predicted class of every image of ``predictions`` (``top``: their top ids)."""
    names = [request.class_names for request in predictions]
    if all(array is not None for array in names):
        flat = np.concatenate(names) if len(names) > 1 else names[0]
        try:
            return list(map(bytes.decode, flat))  # TensorFlow's strings: bytes
        except TypeError:
            return [str(name) for name in flat]
    return [str(int(index)) for index in top]


def batch_columns(
    predictions: list[Prediction], seq: int, run: str, capture_images: bool, profile: int
) -> dict[str, list]:
    """The rows of several requests as columns (``seq`` numbers the first image).

    The cheap fields are read for every image; the size and the pixel value counts,
    which need the image decoded, for the first ``profile`` images only (the monitor
    decodes the captured images the writer did not profile). Built column by column, not row by
    row: the writer shares the server's interpreter, and its time is the server's.
    """
    sizes = [request.size for request in predictions]
    total = sum(sizes)
    single = total == len(predictions)  # one image a request: nothing to repeat
    probabilities = np.concatenate(
        [np.asarray(request.probabilities, dtype=np.float32) for request in predictions]
    )
    top = probabilities.argmax(axis=1)
    predicted = _predicted(predictions, top)
    values = [value for request in predictions for value in request.inputs]
    encodings = _repeat(
        [FILE if isinstance(r.inputs[0], bytes) else RAW for r in predictions], sizes, single
    )
    raw = [
        value if isinstance(value, bytes) else np.ascontiguousarray(value).tobytes()
        for value in values
    ]
    shapes = [_size(value) for value in values]
    channels = _repeat(
        [r.image_shape[2] if r.image_shape else None for r in predictions], sizes, single
    )
    counts: list[bytes | None] = [None] * total
    for index in range(min(profile, total)):
        pixels = decode(raw[index], encodings[index], shapes[index], channels[index])
        if pixels is None:
            shapes[index] = (-1, -1, -1)  # no image
        else:
            counts[index] = value_counts(pixels).tobytes()
            shapes[index] = (int(pixels.shape[0]), int(pixels.shape[1]), int(pixels.shape[2]))
    return {
        "request_id": _repeat([r.request_id for r in predictions], sizes, single),
        "instance": [0] * total if single else [i for size in sizes for i in range(size)],
        "seq": list(range(seq, seq + total)),
        "run": [run] * total,
        "time": _repeat([r.time for r in predictions], sizes, single),
        "model": _repeat([r.model for r in predictions], sizes, single),
        "version": _repeat([r.version for r in predictions], sizes, single),
        "label": _repeat([r.label for r in predictions], sizes, single),
        "signature": _repeat([r.signature for r in predictions], sizes, single),
        "protocol": _repeat([r.protocol for r in predictions], sizes, single),
        "sha256": [hashlib.sha256(data).hexdigest() for data in raw],
        "predicted": predicted,
        "confidence": probabilities[np.arange(total), top].tolist(),
        "height": [shape[0] for shape in shapes],
        "width": [shape[1] for shape in shapes],
        "channels": [shape[2] for shape in shapes],
        "value_counts": counts,
        "encoding": encodings,
        "image": raw if capture_images else [None] * total,
    }


def write_segment(path: Path, columns: dict[str, list]) -> int:
    """Writes one closed segment whole (temporary file, fsync, rename); returns its bytes."""
    table = pa.Table.from_pydict(columns, schema=SCHEMA)
    buffer = io.BytesIO()
    # Snappy: a quarter of zstd's time (3 us a row here) for 1.5 times the bytes.
    pq.write_table(table, buffer, compression="snappy")
    data = buffer.getvalue()
    write_atomic(path, data)
    return len(data)


def read_segments(paths: Iterable[Path], columns: Sequence[str] = SUMMARY_COLUMNS) -> pa.Table:
    """The rows of ``paths`` (closed segments), ``columns`` only, in file order."""
    tables = [pq.read_table(path, columns=list(columns)) for path in paths]
    if not tables:
        return pa.Table.from_pylist([], schema=pa.schema([SCHEMA.field(c) for c in columns]))
    return pa.concat_tables(tables)


def counts_array(blob: bytes | None) -> np.ndarray | None:
    """A row's ``value_counts`` as ``[channels, 256]``, or None when it has none."""
    if blob is None:
        return None
    return np.frombuffer(blob, dtype=np.uint32).reshape(-1, VALUES)
