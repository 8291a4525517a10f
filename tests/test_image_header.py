"""Declared image sizes read from headers: what a decoder would allocate, found without decoding."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from bombs import SIDE, jpeg_bomb, png_bomb
from visionops.image_header import DeclaredSize, declared_size, describe_excess


def pillow_file(image_format: str, size: tuple[int, int], mode: str = "RGB", **options) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 0).save(buffer, format=image_format, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("image_format", "mode", "options", "name"),
    [
        ("PNG", "L", {}, "PNG"),
        ("PNG", "RGBA", {}, "PNG"),
        ("JPEG", "RGB", {}, "JPEG"),
        ("JPEG", "L", {"progressive": True}, "JPEG"),
        ("GIF", "P", {}, "GIF"),
        ("BMP", "RGB", {}, "BMP"),
        ("WEBP", "RGB", {}, "WebP"),
        ("WEBP", "RGB", {"lossless": True}, "WebP"),
        ("WEBP", "RGBA", {}, "WebP"),
    ],
)
def test_the_size_of_every_format_is_read(
    image_format: str, mode: str, options: dict, name: str
) -> None:
    data = pillow_file(image_format, (37, 23), mode, **options)

    assert declared_size(data) == DeclaredSize(name, 37, 23)


def test_a_jpeg_frame_header_after_large_metadata_is_found() -> None:
    exif = b"Exif\x00\x00" + bytes(60_000)
    data = pillow_file("JPEG", (640, 480), exif=exif)

    assert declared_size(data) == DeclaredSize("JPEG", 640, 480)


def test_a_bmp_stored_top_down_has_a_positive_height() -> None:
    data = bytearray(pillow_file("BMP", (5, 7)))
    data[22:26] = struct.pack("<i", -7)

    assert declared_size(bytes(data)) == DeclaredSize("BMP", 5, 7)


def test_every_frame_of_a_gif_counts() -> None:
    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 255, (30, 40), dtype=np.uint8)) for _ in range(5)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])

    size = declared_size(buffer.getvalue())

    assert size == DeclaredSize("GIF", 40, 30, frames=5)
    assert size.pixels == 40 * 30 * 5
    assert size.describe() == "5 frames of 40x30"


def test_bombs_declare_their_size_in_a_few_hundred_bytes() -> None:
    for bomb, name in ((png_bomb(), "PNG"), (jpeg_bomb(), "JPEG")):
        assert len(bomb) < 1000
        assert declared_size(bomb) == DeclaredSize(name, SIDE, SIDE)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"\x89PNG\r\n\x1a\n", png_bomb()[:20], jpeg_bomb()[:30], b"GIF89a\x01"],
    ids=["empty", "text", "png-signature-only", "png-cut-in-ihdr", "jpeg-cut-early", "gif-cut"],
)
def test_data_that_declares_no_size_gives_none(data: bytes) -> None:
    assert declared_size(data) is None


def test_the_refusal_names_size_and_limit() -> None:
    message = describe_excess(DeclaredSize("PNG", SIDE, SIDE), 1_048_576)

    assert message == ("declares 20000x20000 pixels (400,000,000), over the limit of 1,048,576")
