"""A folder of labelled images: one sub-folder per class, PNG or JPEG files inside."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from visionops.errors import ConfigError, SourceError
from visionops.image_dataset import ImageDataset
from visionops.image_header import DeclaredSize, declared_size, describe_excess

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_PIL_MODES = {1: "L", 3: "RGB"}
# Pillow's own threshold for a decompression bomb (about 89 million pixels, a 0.25 GiB
# RGBA image); a camera's photos stay well under it.
MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS


def list_image_files(root: Path) -> dict[str, list[Path]]:
    """Lists the image files of each class folder under ``root``, sorted by name.

    Raises:
        SourceError: ``root`` is missing, not a folder, has no class folders, or a
            class folder holds no image.
    """
    if not root.exists():
        raise SourceError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise SourceError(f"image folder {root} is not a folder")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise SourceError(
            f"image folder {root} has no class folders; put each class's images in "
            f"{root}/<class name>/"
        )
    files: dict[str, list[Path]] = {}
    for class_dir in class_dirs:
        entries = sorted(p for p in class_dir.iterdir() if p.is_file())
        # Hidden files (e.g. macOS "._name.png" resource forks) are not images.
        visible = [p for p in entries if not p.name.startswith(".")]
        images = [p for p in visible if p.suffix.lower() in IMAGE_SUFFIXES]
        others = [p for p in visible if p not in images]
        if others:
            logger.warning(
                "Skipping %d file(s) in %s that are not %s: %s",
                len(others),
                class_dir,
                "/".join(IMAGE_SUFFIXES),
                ", ".join(p.name for p in others[:5]),
            )
        if not images:
            raise SourceError(f"class folder {class_dir} holds no PNG or JPEG image")
        files[class_dir.name] = images
    return files


def _refuse_if_too_large(size: DeclaredSize | None, limit: int) -> None:
    if size is not None and size.pixels > limit:
        raise Image.DecompressionBombError(describe_excess(size, limit))


def decode_image(
    path: Path,
    image_size: Sequence[int] | None,
    channels: int,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Decodes one image file to a uint8 ``[H, W, C]`` array.

    A file whose header declares more than ``max_pixels`` pixels is refused before it is
    decoded: read by :mod:`visionops.image_header` for PNG, JPEG, GIF, BMP and WebP, and
    from the header Pillow reads on opening for any other format.

    Raises:
        SourceError: The file is truncated, corrupt, not an image, or too large.
    """
    try:
        data = path.read_bytes()
        _refuse_if_too_large(declared_size(data), max_pixels)
        with warnings.catch_warnings():
            # Pillow warns, then refuses, past its own limit; both mean a bomb here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                _refuse_if_too_large(DeclaredSize(image.format or "image", *image.size), max_pixels)
                image.load()
                converted = image.convert(_PIL_MODES[channels])
    except (
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
    ) as error:
        raise SourceError(f"cannot decode image {path}: {error}") from error
    if image_size is not None:
        height, width = image_size
        converted = converted.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(converted, dtype=np.uint8)
    return array.reshape(array.shape[0], array.shape[1], channels)


def read_image_folder(
    root: Path, image_size: Sequence[int] | None = (32, 32), channels: int = 3
) -> ImageDataset:
    """Reads every image of an image folder, resized to ``image_size``.

    Args:
        root: The folder holding one sub-folder per class; folder names are class names.
        image_size: ``[height, width]`` to resize to, or None to keep sizes (then
            images of other sizes are zero-padded and their sizes recorded; the
            validation stage rejects mixed sizes).
        channels: 1 for grayscale, 3 for RGB.

    Raises:
        ConfigError: ``image_size`` or ``channels`` is invalid.
        SourceError: The folder cannot be read. A file that cannot be decoded does
            not raise: it becomes an unreadable row with its error (see
            :attr:`ImageDataset.read_errors`), for the validation stage to judge.
    """
    if channels not in _PIL_MODES:
        raise ConfigError(f"ingestion.channels must be 1 or 3; got {channels!r}")
    if image_size is not None and not (
        isinstance(image_size, (list, tuple))
        and len(image_size) == 2
        and all(isinstance(side, int) and side >= 1 for side in image_size)
    ):
        raise ConfigError(
            "ingestion.image_size must be [height, width] in whole pixels, or null; "
            f"got {image_size!r}"
        )
    files = list_image_files(root)
    images, labels, source_ids, read_errors = [], [], [], []
    for label, paths in enumerate(files.values()):
        for path in paths:
            try:
                images.append(decode_image(path, image_size, channels))
                read_errors.append("")
            except SourceError as error:
                # Kept as an unreadable row: the validation stage fails on it or
                # quarantines it (data_validation.on_invalid), and names the file.
                logger.warning("%s", error)
                images.append(None)
                read_errors.append(str(error.__cause__ or error))
            labels.append(label)
            source_ids.append(str(path.relative_to(root)))
    return _stack(images, labels, tuple(files), source_ids, read_errors, channels)


def _stack(
    images: list[np.ndarray | None],
    labels: list[int],
    class_names: tuple[str, ...],
    source_ids: list[str],
    read_errors: list[str],
    channels: int,
) -> ImageDataset:
    """Stacks decoded images into one array. Images of differing sizes are zero-padded
    to the largest and their own shapes kept, so that validation can name them."""
    decoded = [image for image in images if image is not None]
    height = max((image.shape[0] for image in decoded), default=1)
    width = max((image.shape[1] for image in decoded), default=1)
    stacked = np.zeros((len(images), height, width, channels), dtype=np.uint8)
    shapes = np.zeros((len(images), 3), dtype=np.int64)
    for index, image in enumerate(images):
        if image is not None:
            stacked[index, : image.shape[0], : image.shape[1]] = image
            shapes[index] = image.shape
    readable = [index for index, image in enumerate(images) if image is not None]
    mixed = len({tuple(shapes[index]) for index in readable}) > 1
    return ImageDataset(
        images=stacked,
        labels=np.asarray(labels, dtype=np.int64),
        class_names=class_names,
        source_ids=np.asarray(source_ids),
        image_shapes=shapes if mixed else None,
        read_errors=np.asarray(read_errors) if any(read_errors) else None,
    )
