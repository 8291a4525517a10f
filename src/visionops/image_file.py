"""Decoding one image file as visionops stores it: any format Pillow reads (JPEG, PNG,
WebP, BMP, GIF's first frame, TIFF), EXIF orientation applied, any mode converted to
the configured channels, resized."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import simplejpeg
from PIL import Image, ImageOps, UnidentifiedImageError

from visionops.errors import SourceError
from visionops.image_header import (
    DeclaredSize,
    declared_size,
    describe_excess,
    jpeg_orientation,
)

# Every format Pillow decodes that a photo collection holds; GIF gives its first frame.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# Pillow's own threshold for a decompression bomb (about 89 million pixels, a 0.25 GiB
# RGBA image); a camera's photos stay well under it.
MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS
CHANNEL_MODES = {1: "L", 3: "RGB"}
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# " at 0x7f3a..." in an object's repr: differs from run to run.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# EXIF orientations that swap width and height.
_TRANSPOSED = (5, 6, 7, 8)
# The JPEG colour space that decodes straight to each channel count, and what
# simplejpeg calls the output.
_PLAIN_JPEG = {1: ("Gray", "GRAY"), 3: ("YCbCr", "RGB")}


def _refuse_if_too_large(size: DeclaredSize | None, limit: int) -> None:
    if size is not None and size.pixels > limit:
        raise Image.DecompressionBombError(describe_excess(size, limit))


def _to_mode(image: Image.Image, channels: int) -> Image.Image:
    """Converts any Pillow mode to L or RGB: palette and alpha over their colours,
    CMYK to RGB, and 16-bit gray scaled (not clipped) to 8 bits."""
    if image.mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(image, dtype=np.int64).clip(0, 65535)
        # 16-bit values map onto 0..255 rounded to nearest (65535 -> 255, 32768 -> 128);
        # a 32-bit "I" image whose values all fit in 8 bits is taken as 8-bit.
        scale = 65535 if image.mode != "I" or wide.max(initial=0) > 255 else 255
        image = Image.fromarray(((wide * 255 + scale // 2) // scale).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "PA", "RGBA", "La", "RGBa"):
        # Transparent parts become white, as a viewer shows them on a page.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return (
        image if image.mode == CHANNEL_MODES[channels] else image.convert(CHANNEL_MODES[channels])
    )


@dataclass(frozen=True)
class DecodedFile:
    """An image file decoded as visionops stores it.

    Attributes:
        pixels: uint8 ``[H, W, C]`` pixels.
        image: The same pixels as a Pillow image (L or RGB), e.g. for its histogram;
            None where the file was decoded without Pillow.
        source: The file's true format, height, width and channels (after EXIF
            orientation, before any resize).
        unchanged: The pixels are exactly the file's own decoding (no orientation,
            conversion or resize), so that a JPEG can be kept as it is.
    """

    pixels: np.ndarray
    image: Image.Image | None
    source: dict[str, Any]
    unchanged: bool


def _decode_plain_jpeg(
    data: bytes, image_size: tuple[int, int] | None, channels: int, max_pixels: int
) -> DecodedFile | None:
    """A JPEG that needs no change, decoded by libjpeg-turbo straight into numpy: the
    pixels Pillow gives, bit for bit (the same accurate integer DCT and smooth chroma
    upsampling), in about a third of its time for a small image.

    Returns None wherever Pillow must decide (and word any error): not a JPEG, another
    colour space than the configured channels', a size other than ``image_size``, an
    EXIF orientation other than upright, over ``max_pixels``, or anything libjpeg warns
    about (truncated or corrupt data).
    """
    if data[:3] != b"\xff\xd8\xff":
        return None
    colorspace, output = _PLAIN_JPEG[channels]
    try:
        height, width, declared, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if (
        declared != colorspace
        or height * width > max_pixels
        or (image_size is not None and (height, width) != tuple(image_size))
        or jpeg_orientation(data) != 1
    ):
        return None
    try:
        pixels = simplejpeg.decode_jpeg(
            data, colorspace=output, fastdct=False, fastupsample=False, strict=True
        )
    except ValueError:
        return None
    source = {
        "source_format": "JPEG",
        "source_height": height,
        "source_width": width,
        "source_channels": channels,
    }
    return DecodedFile(pixels.reshape(height, width, channels), None, source, True)


def decode_file(
    data: bytes,
    image_size: tuple[int, int] | None,
    channels: int,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> tuple[np.ndarray, dict[str, Any], bool]:
    """Decodes an image file's bytes to uint8 ``[H, W, C]`` pixels as stored.

    Returns:
        The pixels; the source's true format, height, width and channels (after EXIF
        orientation); and whether the pixels are exactly the file's own decoding (no
        orientation, conversion or resize), so that a JPEG can be kept as it is.

    Raises:
        SourceError: The file is truncated, corrupt, not an image, or too large.
    """
    decoded = decode_image_file(data, image_size, channels, max_pixels)
    return decoded.pixels, decoded.source, decoded.unchanged


def decode_image_file(
    data: bytes,
    image_size: tuple[int, int] | None,
    channels: int,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> DecodedFile:
    """Decodes an image file's bytes: any format Pillow reads, EXIF orientation
    applied, converted to ``channels`` channels and resized to ``image_size``
    (``(height, width)``, or None to keep the size).

    Raises:
        SourceError: The file is truncated, corrupt, not an image, or too large.
    """
    plain = _decode_plain_jpeg(data, image_size, channels, max_pixels)
    if plain is not None:
        return plain
    try:
        _refuse_if_too_large(declared_size(data), max_pixels)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                _refuse_if_too_large(DeclaredSize(image.format or "image", *image.size), max_pixels)
                source_format = image.format or "unknown"
                orientation = image.getexif().get(0x0112, 1)
                bands = len(image.getbands())
                original_size = image.size
                # The size as a viewer shows it: orientations 5 to 8 swap the sides.
                width, height = original_size[::-1] if orientation in _TRANSPOSED else original_size
                if image_size is not None and source_format == "JPEG":
                    target_height, target_width = image_size
                    # In the file's own (unrotated) axes: (width, height).
                    wanted = (
                        (target_height, target_width)
                        if orientation in _TRANSPOSED
                        else (target_width, target_height)
                    )
                    # Decodes at a reduced scale (DCT scaling) when the photo is at
                    # least twice the target size: far faster, and then resized anyway.
                    image.draft(image.mode, wanted)
                image.load()
                unchanged = image.size == original_size and orientation == 1
                oriented = ImageOps.exif_transpose(image) if orientation != 1 else image
                if image.mode == "P" and "transparency" in image.info:
                    bands = 4
                converted = _to_mode(oriented, channels)
                unchanged = unchanged and converted is oriented
    except UnidentifiedImageError as error:
        # Pillow's message names an in-memory buffer; say what it means instead.
        raise SourceError(
            "cannot identify image file: not an image in a format Pillow reads"
        ) from error
    except (
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
    ) as error:
        # The same file gives the same message: no object addresses.
        raise SourceError(_ADDRESS.sub("", str(error))) from error
    if image_size is not None and converted.size != (image_size[1], image_size[0]):
        converted = converted.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
        unchanged = False
    pixels = np.asarray(converted, dtype=np.uint8).reshape(
        converted.size[1], converted.size[0], channels
    )
    source = {
        "source_format": source_format,
        "source_height": int(height),
        "source_width": int(width),
        "source_channels": int(bands),
    }
    return DecodedFile(pixels, converted, source, unchanged)
