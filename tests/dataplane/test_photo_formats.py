"""Photos as cameras, phones and editors write them: EXIF orientation, CMYK, 16-bit,
palette and alpha, WebP, animated GIF, TIFF, BMP, a misnamed file, and gray or colour
stored in the other channel count. Each is stored upright, in the configured channels,
under its class, and its index row says what the file really was."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visionops.dataplane.reader import ShardedDataset

Ingest = Callable[..., ShardedDataset]
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)
ORIENTATION = 0x0112


def _ingest_one(
    root: Path, name: str, data: bytes, ingest: Ingest, channels: int = 3
) -> tuple[ShardedDataset, dict]:
    """Ingests ``data`` as ``b_photo/<name>`` beside a plain PNG in ``a_plain``, sizes
    kept; returns the dataset and the photo's index row."""
    (root / "src" / "a_plain").mkdir(parents=True)
    (root / "src" / "b_photo").mkdir()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(root / "src" / "a_plain" / "plain.png")
    (root / "src" / "b_photo" / name).write_bytes(data)
    dataset = ingest(root / "src", root / "set", None, channels)
    row = dataset.index.set_index("source_id").loc[f"b_photo/{name}"].to_dict()
    assert row["readable"], row["read_error"]
    assert (row["label"], row["class_name"]) == (1, "b_photo")
    assert dataset.class_names == ("a_plain", "b_photo")
    return dataset, row


def _saved(image: Image.Image, format: str, **options) -> bytes:
    stream = io.BytesIO()
    image.save(stream, format=format, **options)
    return stream.getvalue()


def _source(row: dict) -> tuple:
    return (
        row["source_format"],
        row["source_height"],
        row["source_width"],
        row["source_channels"],
    )


def _marked(width: int, height: int) -> Image.Image:
    """Blue, with a red 8x8 block in the top-left corner of the stored pixels."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, 8, 8))
    return image


def _corner_colours(pixels: np.ndarray) -> dict[str, tuple[int, ...]]:
    corners = {
        "top_left": pixels[:4, :4],
        "top_right": pixels[:4, -4:],
        "bottom_left": pixels[-4:, :4],
        "bottom_right": pixels[-4:, -4:],
    }
    return {
        name: tuple(int(v) for v in np.round(block.mean(axis=(0, 1)), -1))
        for name, block in corners.items()
    }


@pytest.mark.parametrize(
    ("orientation", "shape", "red_corner"),
    [(6, (40, 24, 3), "top_right"), (3, (24, 40, 3), "bottom_right")],
)
def test_an_exif_rotated_jpeg_is_stored_as_a_viewer_shows_it(
    tmp_path: Path,
    ingest: Ingest,
    pixels_of: Callable,
    record_of: Callable,
    orientation: int,
    shape: tuple[int, int, int],
    red_corner: str,
) -> None:
    """Orientation 6 (turn 90 degrees clockwise to view) puts the stored top-left
    corner top right and swaps width and height; 3 (half a turn) puts it bottom right.
    The record is a new JPEG of the turned pixels, not the file's own bytes."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    data = _saved(_marked(40, 24), "JPEG", quality=95, exif=exif.tobytes())
    dataset, row = _ingest_one(tmp_path, "turned.jpg", data, ingest)
    pixels = pixels_of(dataset, "b_photo/turned.jpg")
    assert pixels.shape == shape
    corners = _corner_colours(pixels)
    assert corners[red_corner] == (250, 0, 0)
    assert all(colour == (0, 0, 250) for name, colour in corners.items() if name != red_corner)
    assert _source(row) == ("JPEG", shape[0], shape[1], 3)
    image, _, encoding = record_of(dataset, "b_photo/turned.jpg")
    assert encoding == "jpeg" and image != data
    with Image.open(io.BytesIO(image)) as stored:
        assert stored.getexif().get(ORIENTATION, 1) == 1


def test_a_cmyk_jpeg_is_stored_as_rgb(tmp_path: Path, ingest: Ingest, pixels_of: Callable) -> None:
    data = _saved(Image.new("CMYK", (12, 10), (0, 255, 255, 0)), "JPEG", quality=95)
    dataset, row = _ingest_one(tmp_path, "print.jpg", data, ingest)
    pixels = pixels_of(dataset, "b_photo/print.jpg")
    assert pixels.shape == (10, 12, 3)
    assert np.abs(pixels.astype(int) - RED).max() <= 3
    assert _source(row) == ("JPEG", 10, 12, 4)


@pytest.mark.parametrize("channels", [1, 3])
def test_a_16_bit_grayscale_png_is_scaled_not_clipped(
    tmp_path: Path, ingest: Ingest, pixels_of: Callable, channels: int
) -> None:
    wide = np.zeros((6, 8), dtype=np.uint16)
    wide[:, :3], wide[:, 3:6], wide[:, 6:] = 65535, 32768, 257
    dataset, row = _ingest_one(
        tmp_path, "scan.png", _saved(Image.fromarray(wide), "PNG"), ingest, channels
    )
    pixels = pixels_of(dataset, "b_photo/scan.png")
    assert pixels.shape == (6, 8, channels)
    assert pixels[0, :, 0].tolist() == [255] * 3 + [128] * 3 + [1] * 2
    assert (pixels == pixels[..., :1]).all()
    assert _source(row) == ("PNG", 6, 8, 1)
    assert row["encoding"] == "png"


def test_a_palette_png_with_transparency_is_white_where_transparent(
    tmp_path: Path, ingest: Ingest, pixels_of: Callable
) -> None:
    image = Image.new("P", (10, 6), 0)
    image.putpalette([0, 0, 0, *BLUE] + [0] * 762)
    image.paste(1, (5, 0, 10, 6))
    dataset, row = _ingest_one(tmp_path, "logo.png", _saved(image, "PNG", transparency=0), ingest)
    pixels = pixels_of(dataset, "b_photo/logo.png")
    assert (pixels[:, :5] == WHITE).all() and (pixels[:, 5:] == BLUE).all()
    assert _source(row) == ("PNG", 6, 10, 4)


def test_an_rgba_png_is_laid_over_white(
    tmp_path: Path, ingest: Ingest, pixels_of: Callable
) -> None:
    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[:, :2] = (255, 0, 0, 255)  # opaque red
    rgba[:, 2:4] = (255, 0, 0, 0)  # transparent
    rgba[:, 4:] = (0, 0, 255, 128)  # half-transparent blue
    dataset, row = _ingest_one(tmp_path, "cutout.png", _saved(Image.fromarray(rgba), "PNG"), ingest)
    pixels = pixels_of(dataset, "b_photo/cutout.png").astype(int)
    assert (pixels[:, :2] == RED).all() and (pixels[:, 2:4] == WHITE).all()
    assert np.abs(pixels[:, 4:] - (127, 127, 255)).max() <= 1
    assert _source(row) == ("PNG", 4, 6, 4)


def test_a_webp_is_stored_exactly(tmp_path: Path, ingest: Ingest, pixels_of: Callable) -> None:
    colours = np.random.default_rng(2).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    data = _saved(Image.fromarray(colours), "WEBP", lossless=True)
    dataset, row = _ingest_one(tmp_path, "phone.webp", data, ingest)
    np.testing.assert_array_equal(pixels_of(dataset, "b_photo/phone.webp"), colours)
    assert _source(row) == ("WEBP", 9, 7, 3)


def test_an_animated_gif_gives_its_first_frame(
    tmp_path: Path, ingest: Ingest, pixels_of: Callable
) -> None:
    frames = [Image.new("RGB", (8, 5), colour) for colour in (RED, BLUE, (0, 255, 0))]
    data = _saved(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.n_frames == 3
    dataset, row = _ingest_one(tmp_path, "loop.gif", data, ingest)
    assert (pixels_of(dataset, "b_photo/loop.gif") == RED).all()
    assert row["source_format"] == "GIF"
    assert (row["source_height"], row["source_width"]) == (5, 8)


@pytest.mark.parametrize(("format", "suffix"), [("TIFF", "tif"), ("BMP", "bmp")])
def test_tiff_and_bmp_are_stored_exactly(
    tmp_path: Path, ingest: Ingest, pixels_of: Callable, format: str, suffix: str
) -> None:
    colours = np.random.default_rng(3).integers(0, 256, (5, 11, 3), dtype=np.uint8)
    dataset, row = _ingest_one(
        tmp_path, f"scan.{suffix}", _saved(Image.fromarray(colours), format), ingest
    )
    np.testing.assert_array_equal(pixels_of(dataset, f"b_photo/scan.{suffix}"), colours)
    assert _source(row) == (format, 5, 11, 3)


def test_a_png_named_jpg_is_read_as_the_png_it_is(
    tmp_path: Path, ingest: Ingest, pixels_of: Callable
) -> None:
    colours = np.random.default_rng(4).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    data = _saved(Image.fromarray(colours), "PNG")
    dataset, row = _ingest_one(tmp_path, "renamed.jpg", data, ingest)
    np.testing.assert_array_equal(pixels_of(dataset, "b_photo/renamed.jpg"), colours)
    assert _source(row) == ("PNG", 6, 6, 3)
    assert row["encoding"] == "png"


def test_a_grayscale_jpeg_with_three_channels_repeats_its_gray(
    tmp_path: Path, ingest: Ingest, pixels_of: Callable
) -> None:
    data = _saved(Image.new("L", (8, 8), 140), "JPEG", quality=95)
    dataset, row = _ingest_one(tmp_path, "gray.jpg", data, ingest, channels=3)
    pixels = pixels_of(dataset, "b_photo/gray.jpg")
    assert pixels.shape == (8, 8, 3)
    assert (np.abs(pixels.astype(int) - 140) <= 1).all()
    assert _source(row) == ("JPEG", 8, 8, 1)
    assert (row["channels"], row["encoding"]) == (3, "jpeg")


def test_rgb_with_one_channel_is_its_luminance(
    tmp_path: Path, ingest: Ingest, pixels_of: Callable
) -> None:
    colours = np.zeros((4, 6, 3), dtype=np.uint8)
    colours[:, :3] = RED
    colours[:, 3:] = WHITE
    dataset, row = _ingest_one(
        tmp_path, "colour.png", _saved(Image.fromarray(colours), "PNG"), ingest, channels=1
    )
    pixels = pixels_of(dataset, "b_photo/colour.png")
    assert pixels.shape == (4, 6, 1)
    assert pixels[0, :, 0].tolist() == [76] * 3 + [255] * 3  # ITU-R 601 luma of red: 0.299
    assert _source(row) == ("PNG", 4, 6, 3)
    assert (row["channels"], row["encoding"]) == (1, "png")


@pytest.mark.parametrize(("orientation", "source_size"), [(1, (48, 96)), (6, (96, 48))])
def test_a_large_jpeg_reports_its_own_size_when_decoded_reduced(
    tmp_path: Path, ingest: Ingest, orientation: int, source_size: tuple[int, int]
) -> None:
    """A photo 4x the stored size is decoded at a reduced scale; its row still gives
    the size a viewer shows (96x48 pixels, turned for orientation 6)."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    data = _saved(_marked(96, 48), "JPEG", quality=90, exif=exif.tobytes())
    (tmp_path / "src" / "photos").mkdir(parents=True)
    (tmp_path / "src" / "photos" / "large.jpg").write_bytes(data)
    dataset = ingest(tmp_path / "src", tmp_path / "set", [12, 12])
    row = dataset.index.iloc[0]
    assert (row["source_height"], row["source_width"]) == source_size
    assert (row["height"], row["width"]) == (12, 12)
