"""Image folders: one sub-folder per class, PNG or JPEG files inside."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bombs import SIDE, jpeg_bomb, png_bomb
from visionops.errors import ConfigError, SourceError
from visionops.sources import read_source
from visionops.sources.image_folder import (
    MAX_IMAGE_PIXELS,
    decode_image,
    list_image_files,
    read_image_folder,
)

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def write_image(path: Path, size: tuple[int, int], color: tuple[int, ...] | int, mode: str) -> Path:
    """Writes a solid-colour image of ``size`` (width, height); format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


@pytest.fixture
def pets(tmp_path: Path) -> Path:
    """Three classes with PNG and JPEG files of different sizes and modes."""
    root = tmp_path / "pets"
    write_image(root / "cat" / "a.png", (12, 10), RED, "RGB")
    write_image(root / "cat" / "b.jpg", (20, 16), BLUE, "RGB")
    write_image(root / "dog" / "c.png", (5, 7), 200, "L")
    write_image(root / "bird" / "d.jpeg", (9, 9), (0, 255, 0), "RGB")
    return root


def test_classes_are_sorted_folder_names_with_matching_labels(pets: Path) -> None:
    """Folder names become class names in sorted order; labels follow them."""
    dataset = read_image_folder(pets, image_size=(6, 8), channels=3)
    assert dataset.class_names == ("bird", "cat", "dog")
    assert dataset.source_ids.tolist() == ["bird/d.jpeg", "cat/a.png", "cat/b.jpg", "dog/c.png"]
    assert dataset.labels.tolist() == [0, 1, 1, 2]
    assert dataset.labels.dtype == np.int64


def test_images_are_resized_to_height_width_as_rgb(pets: Path) -> None:
    """Every image comes out uint8 [H, W, 3] at the requested size, colours intact."""
    dataset = read_image_folder(pets, image_size=(6, 8), channels=3)
    assert dataset.images.shape == (4, 6, 8, 3)
    assert dataset.images.dtype == np.uint8
    assert (dataset.images[1] == RED).all()
    blue = dataset.images[2].astype(int)
    assert (blue[..., 2] > 200).all() and (blue[..., :2] < 40).all()
    assert (dataset.images[3] == 200).all()


def test_grayscale_gives_one_channel(pets: Path) -> None:
    """channels=1 converts colour images to a single luminance channel."""
    dataset = read_image_folder(pets, image_size=(4, 4), channels=1)
    assert dataset.images.shape == (4, 4, 4, 1)
    assert (dataset.images[3] == 200).all()
    assert int(dataset.images[1].max()) < 255


def test_same_sized_images_keep_their_size_without_image_size(tmp_path: Path) -> None:
    """With image_size=None, images that already agree in size are kept as they are."""
    write_image(tmp_path / "a" / "1.png", (5, 3), RED, "RGB")
    write_image(tmp_path / "b" / "2.png", (5, 3), BLUE, "RGB")
    dataset = read_image_folder(tmp_path, image_size=None, channels=3)
    assert dataset.images.shape == (2, 3, 5, 3)


def test_read_source_passes_yaml_options(pets: Path) -> None:
    """read_source forwards image_size and channels as the parameters file gives them."""
    dataset = read_source("image_folder", str(pets), {"image_size": [3, 5], "channels": 1})
    assert dataset.images.shape == (4, 3, 5, 1)


def test_missing_folder(tmp_path: Path) -> None:
    """A path that does not exist is named in the error."""
    missing = tmp_path / "nowhere"
    with pytest.raises(SourceError, match=str(missing)):
        read_image_folder(missing)


def test_file_instead_of_folder(tmp_path: Path) -> None:
    """A file given as the image folder is named in the error."""
    image = write_image(tmp_path / "one.png", (4, 4), RED, "RGB")
    with pytest.raises(SourceError, match=str(image)):
        read_image_folder(image)


def test_folder_without_class_folders(tmp_path: Path) -> None:
    """Images directly in the root, with no class folders, are refused."""
    write_image(tmp_path / "loose.png", (4, 4), RED, "RGB")
    (tmp_path / ".hidden").mkdir()
    with pytest.raises(SourceError, match=str(tmp_path)):
        read_image_folder(tmp_path)


def test_class_folder_without_images(pets: Path) -> None:
    """A class folder holding no PNG or JPEG is named in the error."""
    empty = pets / "fish"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(SourceError, match=str(empty)):
        read_image_folder(pets)


def test_truncated_png(pets: Path) -> None:
    """A PNG cut in half becomes an unreadable row naming the error, not a partial image."""
    broken = pets / "dog" / "e.png"
    Image.effect_noise((32, 32), 64).save(broken)
    content = broken.read_bytes()
    broken.write_bytes(content[: len(content) // 2])
    dataset = read_image_folder(pets)
    row = list(dataset.source_ids).index("dog/e.png")
    assert dataset.read_errors is not None
    assert "truncated" in dataset.read_errors[row]
    assert not dataset.readable[row]
    assert dataset.readable.sum() == len(dataset) - 1
    assert not dataset.images[row].any()


def test_text_file_named_png(pets: Path) -> None:
    """A text file with an image suffix is kept as an unreadable row with its error."""
    fake = pets / "cat" / "x.png"
    fake.write_text("this is not a PNG")
    dataset = read_image_folder(pets)
    row = list(dataset.source_ids).index("cat/x.png")
    assert "cannot identify image file" in dataset.read_errors[row]


@pytest.mark.parametrize(("bomb", "name"), [(png_bomb, "bomb.png"), (jpeg_bomb, "bomb.jpg")])
def test_decompression_bomb_is_an_unreadable_row_naming_its_size(
    pets: Path, bomb: Callable[[], bytes], name: str
) -> None:
    """A small file declaring 20000x20000 pixels is refused before it is decoded."""
    (pets / "cat" / name).write_bytes(bomb())
    dataset = read_image_folder(pets)
    row = list(dataset.source_ids).index(f"cat/{name}")
    assert dataset.read_errors[row] == (
        f"declares {SIDE}x{SIDE} pixels (400,000,000), over the limit of {MAX_IMAGE_PIXELS:,}"
    )
    assert not dataset.readable[row]
    assert dataset.readable.sum() == len(dataset) - 1


def test_an_image_over_a_lower_limit_is_refused(tmp_path: Path) -> None:
    """The limit holds for formats the header reader does not know, through Pillow's header."""
    path = tmp_path / "scan.tiff"
    Image.new("L", (30, 20)).save(path)
    with pytest.raises(SourceError, match="declares 30x20 pixels \\(600\\), over the limit of 599"):
        decode_image(path, None, 1, max_pixels=599)
    assert decode_image(path, None, 1, max_pixels=600).shape == (20, 30, 1)


def test_mixed_sizes_are_padded_and_recorded(pets: Path) -> None:
    """Without image_size, images of other sizes are zero-padded and their sizes kept."""
    dataset = read_image_folder(pets, image_size=None)
    assert dataset.image_shapes is not None
    shapes = {tuple(shape) for shape in dataset.image_shapes}
    assert len(shapes) > 1
    height, width, _ = dataset.image_shape
    assert height == max(shape[0] for shape in shapes)
    assert width == max(shape[1] for shape in shapes)


@pytest.mark.parametrize("channels", [0, 2, 4])
def test_bad_channels(pets: Path, channels: int) -> None:
    """Only 1 or 3 channels are accepted."""
    with pytest.raises(ConfigError, match="channels"):
        read_image_folder(pets, channels=channels)


@pytest.mark.parametrize("image_size", [[32], [0, 32], [-4, 4], [32, 32, 3], 32])
def test_bad_image_size(pets: Path, image_size: object) -> None:
    """An image_size that is not a positive [height, width] is a configuration error."""
    with pytest.raises(ConfigError, match="image_size"):
        read_image_folder(pets, image_size=image_size)  # type: ignore[arg-type]


def test_listing_sorts_by_name_and_skips_hidden_and_other_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Files are listed by name in each class folder; hidden files are ignored, other
    files are skipped with one warning naming them; upper-case suffixes count."""
    for name in ("b.PNG", "a.jpeg", "c.Tif"):
        write_image(tmp_path / "cls" / name, (2, 2), RED, "RGB")
    for name in ("._a.jpeg", ".DS_Store", "notes.txt", "x."):
        (tmp_path / "cls" / name).write_text("not an image")
    (tmp_path / "cls" / "sub").mkdir()
    with caplog.at_level(logging.WARNING):
        files = list_image_files(tmp_path)
    assert files == {"cls": [tmp_path / "cls" / name for name in ("a.jpeg", "b.PNG", "c.Tif")]}
    assert caplog.messages == [
        f"Skipping 2 file(s) in {tmp_path / 'cls'} that are not "
        ".png/.jpg/.jpeg/.webp/.bmp/.gif/.tif/.tiff: notes.txt, x."
    ]
