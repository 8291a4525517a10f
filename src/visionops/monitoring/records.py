"""Prediction records: one row per predicted image, and segments of them as Parquet files.

A row holds the request id and the image's place in its request (``instance``), when it
was answered (``time``, epoch seconds), which model, version and label answered, the
sha256 of the input as sent, the predicted class and its probability, the decoded
image's size and, per channel, how many pixels took each of the 256 values
(``value_counts``, ``uint32 [channels, 256]``: what the drift checks bin as validation
bins its histograms), and the encoded image when images are captured.
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
        ("image", pa.binary()),
    ]
)
COLUMNS = tuple(SCHEMA.names)
SUMMARY_COLUMNS = tuple(name for name in COLUMNS if name != "image")
VALUES = 256
_MODES = {1: "L", 3: "RGB"}


@dataclass(frozen=True)
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


def _decode(value: Any, channels: int | None) -> tuple[np.ndarray | None, bytes | None]:
    """The image as uint8 ``[H, W, C]`` (None if it is no image), and its encoded bytes."""
    if isinstance(value, bytes):
        try:
            with Image.open(io.BytesIO(value)) as image:
                mode = _MODES.get(channels or (1 if image.mode in ("L", "I;16", "1") else 3))
                pixels = np.asarray(image.convert(mode or "RGB"))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            return None, value
        return (pixels[..., np.newaxis] if pixels.ndim == 2 else pixels), value
    array = np.asarray(value)
    if array.dtype != np.uint8 or array.ndim != 3:
        return None, None
    return array, None


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(buffer, "PNG")
    return buffer.getvalue()


def value_counts(pixels: np.ndarray) -> np.ndarray:
    """``uint32 [channels, 256]``: how many pixels of each channel take each value."""
    flat = pixels.reshape(-1, pixels.shape[-1])
    return np.stack(
        [np.bincount(flat[:, channel], minlength=VALUES) for channel in range(flat.shape[1])]
    ).astype(np.uint32)


def rows(prediction: Prediction, seq: int, run: str, capture_images: bool) -> dict[str, list]:
    """The rows of one request, as columns (``seq`` numbers its first image)."""
    channels = prediction.image_shape[2] if prediction.image_shape else None
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    probabilities = np.asarray(prediction.probabilities, dtype=np.float32)
    top = probabilities.argmax(axis=1)
    for index in range(prediction.size):
        value = prediction.inputs[index]
        pixels, encoded = _decode(value, channels)
        raw = value if isinstance(value, bytes) else np.ascontiguousarray(value).tobytes()
        if prediction.class_names is not None:
            name = prediction.class_names[index]
            predicted = name.decode() if isinstance(name, bytes) else str(name)
        else:
            predicted = str(int(top[index]))
        if capture_images and encoded is None and pixels is not None:
            encoded = _png(pixels)
        columns["request_id"].append(prediction.request_id)
        columns["instance"].append(index)
        columns["seq"].append(seq + index)
        columns["run"].append(run)
        columns["time"].append(prediction.time)
        columns["model"].append(prediction.model)
        columns["version"].append(prediction.version)
        columns["label"].append(prediction.label)
        columns["signature"].append(prediction.signature)
        columns["protocol"].append(prediction.protocol)
        columns["sha256"].append(hashlib.sha256(raw).hexdigest())
        columns["predicted"].append(predicted)
        columns["confidence"].append(float(probabilities[index, top[index]]))
        shape = pixels.shape if pixels is not None else (-1, -1, -1)
        columns["height"].append(int(shape[0]))
        columns["width"].append(int(shape[1]))
        columns["channels"].append(int(shape[2]))
        columns["value_counts"].append(
            value_counts(pixels).tobytes() if pixels is not None else None
        )
        columns["image"].append(encoded if capture_images else None)
    return columns


def write_segment(path: Path, columns: dict[str, list]) -> int:
    """Writes one closed segment whole (temporary file, fsync, rename); returns its bytes."""
    table = pa.Table.from_pydict(columns, schema=SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
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
