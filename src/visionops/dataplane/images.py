"""One image in, one stored record and one index row out: decode, orient, convert,
resize, encode, hash and profile.

This is the per-image work of ingestion, run in worker processes (or Ray tasks), so it
imports neither TensorFlow nor Kedro. Every figure of a row is computed from that
image alone, exactly (pixel statistics come from integer histograms), so a row does not
depend on which other images shared its batch: ingestion gives the same bytes in one
process, in a pool, on Ray, and when it reuses cached rows.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from visionops.dataplane.similarity import (
    gray_images,
    gray_signatures,
    is_pillow_gray_source,
    pillow_image,
    signature_gray,
)
from visionops.errors import ConfigError, SourceError
from visionops.image_file import CHANNEL_MODES, MAX_IMAGE_PIXELS, decode_image_file

# Bumped whenever what a row or a record holds changes: cached rows of another
# version are not reused.
PROCESSING_VERSION = 5
JPEG_QUALITY = 95
STAT_COLUMNS = ("min", "max", "mean", "std", "saturated_share", "finite")
_PILLOW_CHANNELS = (1, 3, 4)
# Each uint8 value and its square: a histogram times these gives exact sums.
_MOMENTS = np.stack([np.arange(256, dtype=np.int64), np.arange(256, dtype=np.int64) ** 2], 1)


def stat_columns(channels: int) -> list[str]:
    """The pixel statistics columns of an index row for ``channels`` channels."""
    per_channel = [f"{kind}_c{channel}" for channel in range(channels) for kind in ("mean", "std")]
    return [*STAT_COLUMNS, *per_channel]


@dataclass(frozen=True)
class IngestSettings:
    """How every image is stored: its size and channels.

    Attributes:
        image_size: ``(height, width)`` to resize to, or None to keep each size.
        channels: 1 (grayscale) or 3 (RGB).
        max_pixels: Files declaring more pixels are refused before decoding.
    """

    image_size: tuple[int, int] | None = (32, 32)
    channels: int = 3
    max_pixels: int = MAX_IMAGE_PIXELS

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> IngestSettings:
        """From the ``ingestion`` parameters.

        Raises:
            ConfigError: ``image_size`` or ``channels`` is invalid.
        """
        channels = params.get("channels", 3)
        if channels not in CHANNEL_MODES:
            raise ConfigError(f"ingestion.channels must be 1 or 3; got {channels!r}")
        size = params.get("image_size", [32, 32])
        if size is not None and not (
            isinstance(size, (list, tuple))
            and len(size) == 2
            and all(
                isinstance(side, int) and not isinstance(side, bool) and side >= 1 for side in size
            )
        ):
            raise ConfigError(
                "ingestion.image_size must be [height, width] in whole pixels, or null; "
                f"got {size!r}"
            )
        return cls(None if size is None else (int(size[0]), int(size[1])), int(channels))

    def digest(self) -> str:
        """What a cached row was made with: these settings and :data:`PROCESSING_VERSION`."""
        key = json.dumps([PROCESSING_VERSION, self.image_size, self.channels, self.max_pixels])
        return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class Processed:
    """One image, processed.

    Attributes:
        image: The stored image's bytes (empty when unreadable).
        encoding: ``png``, ``jpeg`` or ``raw`` (see :func:`encode_pixels`).
        row: The index row's image columns: hashes, sizes, format, readability, and
            the pixel statistics (None when unreadable).
        histogram: ``[channels, 256]`` counts of each uint8 value, or None.
        thumbnail: The 16x16 gray thumbnail (float16, 256 values), or None.
        file_bytes: ``image`` is the source file's own bytes (a JPEG that needed no
            change), so a cache need not keep a copy of it.
        gray: The gray image whose perceptual hash and thumbnail are still to be
            taken (:func:`finish_profiles`), or None once they are.
    """

    image: bytes
    encoding: str
    row: dict[str, Any]
    histogram: np.ndarray | None
    thumbnail: np.ndarray | None
    file_bytes: bool = False
    gray: np.ndarray | None = None


def encode_pixels(pixels: np.ndarray, lossy: bool) -> tuple[bytes, str]:
    """Encodes ``[H, W, C]`` pixels for a shard: JPEG (quality 95) when the source was
    lossy, PNG (lossless) for uint8 otherwise, and the raw tensor bytes (any dtype)
    when neither format holds them."""
    channels = pixels.shape[2]
    if pixels.dtype == np.uint8 and channels in (1, 3):
        image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
        stream = io.BytesIO()
        if lossy:
            image.save(stream, format="JPEG", quality=JPEG_QUALITY)
            return stream.getvalue(), "jpeg"
        image.save(stream, format="PNG", compress_level=6)
        return stream.getvalue(), "png"
    return np.ascontiguousarray(pixels).tobytes(), "raw"


def decode_stored(
    image: bytes, encoding: str, shape: tuple[int, int, int], dtype: str
) -> np.ndarray:
    """The pixels of a stored image (see :func:`encode_pixels`)."""
    if encoding == "raw":
        return np.frombuffer(image, dtype=np.dtype(dtype)).reshape(shape)
    with Image.open(io.BytesIO(image)) as opened:
        array = np.asarray(opened, dtype=np.uint8)
    return array.reshape(array.shape[0], array.shape[1], -1)


def content_sha256(pixels: np.ndarray) -> str:
    """sha256 of the pixels' shape, dtype and bytes (see
    :func:`visionops.dataplane.similarity.content_hashes`)."""
    digest = hashlib.sha256(f"{pixels.shape}{pixels.dtype.str}".encode())
    digest.update(np.ascontiguousarray(pixels).data)
    return digest.hexdigest()


def uint8_histogram(pixels: np.ndarray) -> np.ndarray:
    """``[channels, 256]`` counts of each value of uint8 ``[H, W, C]`` pixels."""
    channels = pixels.shape[2]
    if channels in _PILLOW_CHANNELS:
        # Pillow counts in C (L, RGB or RGBA), several times faster than np.bincount.
        plane = pixels[..., 0] if channels == 1 else pixels
        counts = Image.fromarray(np.ascontiguousarray(plane)).histogram()
        return np.asarray(counts, dtype=np.int64).reshape(channels, 256)
    flat = pixels.reshape(-1, channels)
    offsets = (np.arange(channels, dtype=np.intp) * 256)[None, :]
    return np.bincount((flat + offsets).ravel(), minlength=256 * channels).reshape(channels, 256)


def histogram_statistics(histograms: np.ndarray) -> list[dict[str, Any]]:
    """Exact pixel statistics of uint8 images from their ``[N, channels, 256]``
    histograms, one dict per image: min, max, mean, std, saturated share and each
    channel's mean and std.

    Integer sums (exact), then one float64 division each, for all images at once: a
    few numpy calls per batch rather than per image.
    """
    histograms = np.asarray(histograms, dtype=np.int64)
    count, channels, _ = histograms.shape
    counts = histograms.sum(axis=2)  # [N, C]
    moments = histograms @ _MOMENTS  # [N, C, 2]: per channel, sum of values, of squares
    by_value = histograms.sum(axis=1)  # [N, 256]
    present = by_value > 0
    total = counts.sum(axis=1).astype(np.float64)
    mean = moments[..., 0].sum(axis=1) / total
    channel_mean = moments[..., 0] / counts
    figures = {
        "min": present.argmax(axis=1).astype(np.float64),
        "max": (255 - present[:, ::-1].argmax(axis=1)).astype(np.float64),
        "mean": mean,
        "std": np.sqrt(np.maximum(moments[..., 1].sum(axis=1) / total - mean * mean, 0.0)),
        "saturated_share": (by_value[:, 0] + by_value[:, 255]) / total,
    }
    channel_std = np.sqrt(np.maximum(moments[..., 1] / counts - channel_mean * channel_mean, 0.0))
    for channel in range(channels):
        figures[f"mean_c{channel}"] = channel_mean[:, channel]
        figures[f"std_c{channel}"] = channel_std[:, channel]
    columns = {name: values.tolist() for name, values in figures.items()}
    return [
        {"finite": True, **{name: values[number] for name, values in columns.items()}}
        for number in range(count)
    ]


def _any_statistics(pixels: np.ndarray) -> dict[str, Any]:
    """Statistics of pixels of any dtype; non-finite values are left out and flagged."""
    channels = pixels.shape[2]
    values = pixels.reshape(-1, channels).astype(np.float64)
    finite = np.isfinite(values)
    kept = np.where(finite, values, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        stats: dict[str, Any] = {
            "min": float(np.nanmin(kept)) if finite.any() else float("nan"),
            "max": float(np.nanmax(kept)) if finite.any() else float("nan"),
            "mean": float(np.nanmean(kept)),
            "std": float(np.nanstd(kept)),
            "saturated_share": float(np.mean((kept <= 0) | (kept >= 255))),
            "finite": bool(finite.all()),
        }
        for channel in range(channels):
            stats[f"mean_c{channel}"] = float(np.nanmean(kept[:, channel]))
            stats[f"std_c{channel}"] = float(np.nanstd(kept[:, channel]))
    return stats


def describe_pixels(pixels: np.ndarray, image: Image.Image | None = None) -> Processed:
    """The index columns and histogram that follow from stored pixels, and the gray
    image whose perceptual hash, thumbnail and (8-bit) statistics
    :func:`finish_profiles` adds, a batch at a time.

    Args:
        pixels: ``[H, W, C]`` pixels as stored.
        image: The same pixels as a Pillow image (L or RGB) where one is at hand: its
            histogram and gray come from it without another copy.
    """
    stats: dict[str, Any] = dict.fromkeys(stat_columns(pixels.shape[2]))
    if is_pillow_gray_source(pixels):
        image = pillow_image(pixels) if image is None else image
        # Pillow counts in C, several times faster than np.bincount.
        counts = image.histogram()
        histogram: np.ndarray | None = np.fromiter(counts, np.int64, len(counts)).reshape(-1, 256)
        gray = signature_gray(pixels, image)
    else:
        histogram = uint8_histogram(pixels) if pixels.dtype == np.uint8 else None
        if histogram is None:
            stats = _any_statistics(pixels)
        gray = gray_images(pixels[np.newaxis])[0]
    row = {
        "height": int(pixels.shape[0]),
        "width": int(pixels.shape[1]),
        "channels": int(pixels.shape[2]),
        "dtype": str(pixels.dtype),
        "sha256": content_sha256(pixels),
        "phash": None,
        **stats,
    }
    return Processed(b"", "", row, histogram, None, gray=gray)


def finish_profiles(items: list[Processed]) -> None:
    """Adds to each image still pending (see :func:`describe_pixels`) its perceptual
    hash, thumbnail and, from its histogram, its 8-bit statistics: for all of them at
    once, by gray size and channel count, so that per image only the arithmetic is
    left."""
    pending = [item for item in items if item.gray is not None]
    for group in _grouped(pending, lambda item: np.shape(item.gray)):
        hashes, thumbnails = gray_signatures(np.stack([item.gray for item in group]))
        for item, value, thumbnail in zip(group, hashes.tolist(), thumbnails, strict=True):
            item.row["phash"] = f"{value:016x}"  # as hash_hex writes it
            item.thumbnail = thumbnail.astype(np.float16)
            item.gray = None
    counted = [item for item in pending if item.histogram is not None]
    for group in _grouped(counted, lambda item: np.shape(item.histogram)):
        stats = histogram_statistics(np.stack([item.histogram for item in group]))
        for item, figures in zip(group, stats, strict=True):
            item.row.update(figures)


def _grouped(
    items: list[Processed], key: Callable[[Processed], tuple[int, ...]]
) -> list[list[Processed]]:
    """``items`` in groups of equal ``key`` (arrays of one shape stack)."""
    groups: dict[tuple[int, ...], list[Processed]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.values())


def unreadable(error: str, source: dict[str, Any] | None = None) -> Processed:
    """The row of a file that cannot be read: its error and no pixels."""
    row = {"readable": False, "read_error": error, **(source or {})}
    return Processed(b"", "", row, None, None)


def process_file(path: Path, settings: IngestSettings, data: bytes | None = None) -> Processed:
    """Decodes, orients, converts, resizes, encodes and profiles one image file (its
    perceptual hash, thumbnail and statistics pending :func:`finish_profiles`).

    A file that cannot be decoded does not raise: it becomes an unreadable row with
    its error, for the validation stage to judge (fail, or quarantine).
    """
    data = path.read_bytes() if data is None else data
    try:
        decoded = decode_image_file(
            data, settings.image_size, settings.channels, settings.max_pixels
        )
    except SourceError as error:
        return unreadable(f"cannot decode image: {error}")
    pixels, source = decoded.pixels, decoded.source
    lossy = source["source_format"] == "JPEG"
    # A JPEG that needs no change (no orientation, conversion or resize) is stored as
    # its own bytes: re-encoding would only lose quality and time.
    file_bytes = lossy and decoded.unchanged
    if file_bytes:
        image, encoding = data, "jpeg"
    else:
        image, encoding = encode_pixels(pixels, lossy)
        if encoding == "jpeg":
            # Profile what training will read: the re-encoded image, decoded.
            pixels = decode_stored(image, encoding, pixels.shape, "uint8")
    described = describe_pixels(pixels, decoded.image if pixels is decoded.pixels else None)
    described.row.update(source, readable=True, read_error="")
    described.image, described.encoding, described.file_bytes = image, encoding, file_bytes
    return described


def process_pixels(pixels: np.ndarray) -> Processed:
    """Encodes (losslessly) and profiles one image of an array source (pending
    :func:`finish_profiles`)."""
    described = describe_pixels(pixels)
    described.image, described.encoding = encode_pixels(pixels, lossy=False)
    described.row.update(
        source_format="array",
        source_height=int(pixels.shape[0]),
        source_width=int(pixels.shape[1]),
        source_channels=int(pixels.shape[2]),
        readable=True,
        read_error="",
    )
    return described
