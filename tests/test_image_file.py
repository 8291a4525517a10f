"""A JPEG that needs no change is decoded without Pillow, to the very pixels Pillow
gives; every other file, and every error, is Pillow's."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from visionops.errors import SourceError
from visionops.image_file import decode_image_file
from visionops.image_header import jpeg_orientation


def _photo(height: int = 24, width: int = 40, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(channels)
    rows = np.linspace(0, 200, height)[:, None, None]
    noise = rng.normal(0, 25, size=(height, width, channels))
    return np.clip(rows + noise + np.linspace(0, 40, channels), 0, 255).astype(np.uint8)


def _jpeg(pixels: np.ndarray, **options: object) -> bytes:
    image = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    stream = io.BytesIO()
    image.save(stream, format="JPEG", **{"quality": 90, **options})
    return stream.getvalue()


def _pillow(data: bytes, mode: str) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        array = np.asarray(image.convert(mode))
    return array.reshape(array.shape[0], array.shape[1], -1)


def _rotated(pixels: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _jpeg(pixels, exif=exif.tobytes())


@pytest.mark.parametrize(
    "options",
    [
        {},  # 4:2:0
        {"subsampling": 0},  # 4:4:4
        {"subsampling": 1},  # 4:2:2
        {"progressive": True, "quality": 60},
        {"optimize": True, "quality": 99},
    ],
)
def test_a_plain_jpeg_decodes_to_pillows_pixels_without_pillow(options: dict) -> None:
    data = _jpeg(_photo(), **options)

    decoded = decode_image_file(data, (24, 40), 3)

    assert decoded.image is None, "the plain JPEG went through Pillow"
    assert decoded.unchanged
    assert np.array_equal(decoded.pixels, _pillow(data, "RGB"))
    assert decoded.source == {
        "source_format": "JPEG",
        "source_height": 24,
        "source_width": 40,
        "source_channels": 3,
    }


def test_a_gray_jpeg_decodes_to_one_channel_without_pillow() -> None:
    data = _jpeg(_photo(channels=1))

    decoded = decode_image_file(data, None, 1)

    assert decoded.image is None
    assert decoded.pixels.shape == (24, 40, 1)
    assert np.array_equal(decoded.pixels, _pillow(data, "L"))


@pytest.mark.parametrize(
    ("data", "size", "channels"),
    [
        (_jpeg(_photo()), (12, 20), 3),  # resized
        (_jpeg(_photo()), None, 1),  # colour to gray
        (_jpeg(_photo(channels=1)), None, 3),  # gray to colour
        (_rotated(_photo(), 6), None, 3),  # EXIF-rotated
    ],
    ids=["resized", "to-gray", "to-colour", "rotated"],
)
def test_a_jpeg_that_changes_goes_through_pillow(
    data: bytes, size: tuple[int, int] | None, channels: int
) -> None:
    decoded = decode_image_file(data, size, channels)

    assert decoded.image is not None
    assert not decoded.unchanged


def test_an_exif_rotated_jpeg_is_turned_upright() -> None:
    pixels = _photo()

    decoded = decode_image_file(_rotated(pixels, 6), None, 3)

    # Orientation 6: the camera was turned a quarter clockwise; upright is 24 wide.
    assert decoded.pixels.shape == (40, 24, 3)
    assert decoded.source["source_height"] == 40


def test_a_truncated_jpeg_gets_pillows_error() -> None:
    data = _jpeg(_photo(96, 96))

    with pytest.raises(SourceError, match="truncated"):
        decode_image_file(data[: len(data) // 2], (96, 96), 3)


def test_orientation_is_read_from_the_exif_block() -> None:
    assert jpeg_orientation(_jpeg(_photo())) == 1
    assert jpeg_orientation(_rotated(_photo(), 6)) == 6
    assert jpeg_orientation(_rotated(_photo(), 1)) == 1


def test_orientation_is_left_to_pillow_where_the_file_is_unusual() -> None:
    data = _rotated(_photo(), 3)
    start = data.index(b"\xff\xe1")  # the EXIF segment (APP1)
    segment = data[start : start + 2 + int.from_bytes(data[start + 2 : start + 4], "big")]
    twice = data[:start] + segment + data[start:]

    assert jpeg_orientation(b"\x89PNG\r\n\x1a\n") is None
    assert jpeg_orientation(data[:40]) is None, "segments run past the end"
    assert jpeg_orientation(twice) is None, "two EXIF blocks"
