"""A folder of labelled images: one sub-folder per class, image files inside."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from visionops.errors import ConfigError, SourceError
from visionops.image_dataset import ImageDataset
from visionops.image_file import (
    CHANNEL_MODES,
    IMAGE_SUFFIXES,
    MAX_IMAGE_PIXELS,
    decode_file,
)

logger = logging.getLogger(__name__)


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
    # os.scandir reads each folder once, with no stat per file: a folder of a
    # million files lists in seconds.
    class_dirs = sorted(
        Path(entry.path)
        for entry in os.scandir(root)
        if entry.is_dir() and not entry.name.startswith(".")
    )
    if not class_dirs:
        raise SourceError(
            f"image folder {root} has no class folders; put each class's images in "
            f"{root}/<class name>/"
        )
    files: dict[str, list[Path]] = {}
    for class_dir in class_dirs:
        # Hidden files (e.g. macOS "._name.png" resource forks) are not images.
        names = sorted(
            entry.name
            for entry in os.scandir(class_dir)
            if entry.is_file() and not entry.name.startswith(".")
        )
        images = [name for name in names if _suffix(name) in IMAGE_SUFFIXES]
        if len(images) < len(names):
            kept = set(images)
            others = [name for name in names if name not in kept]
            logger.warning(
                "Skipping %d file(s) in %s that are not %s: %s",
                len(others),
                class_dir,
                "/".join(IMAGE_SUFFIXES),
                ", ".join(others[:5]),
            )
        if not images:
            raise SourceError(
                f"class folder {class_dir} holds no image ({'/'.join(IMAGE_SUFFIXES)})"
            )
        files[class_dir.name] = [class_dir / name for name in images]
    return files


def _suffix(name: str) -> str:
    """A file name's suffix, lower case, as :attr:`pathlib.PurePath.suffix` gives it."""
    dot = name.rfind(".")
    return name[dot:].lower() if 0 < dot < len(name) - 1 else ""


def decode_image(
    path: Path,
    image_size: Sequence[int] | None,
    channels: int,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Decodes one image file to a uint8 ``[H, W, C]`` array (see
    :func:`visionops.image_file.decode_file`).

    Raises:
        SourceError: The file is unreadable, truncated, corrupt, not an image, or too large.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SourceError(f"cannot read image {path}: {error}") from error
    size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
    try:
        return decode_file(data, size, channels, max_pixels)[0]
    except SourceError as error:
        raise SourceError(f"cannot decode image {path}: {error}") from error.__cause__


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
    if channels not in CHANNEL_MODES:
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
