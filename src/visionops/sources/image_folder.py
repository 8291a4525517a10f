"""A folder of labelled images: one sub-folder per class, PNG or JPEG files inside."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from visionops.errors import ConfigError, SourceError
from visionops.image_dataset import ImageDataset

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_PIL_MODES = {1: "L", 3: "RGB"}


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


def decode_image(path: Path, image_size: Sequence[int] | None, channels: int) -> np.ndarray:
    """Decodes one image file to a uint8 ``[H, W, C]`` array.

    Raises:
        SourceError: The file is truncated, corrupt or not an image.
    """
    try:
        with Image.open(path) as image:
            image.load()
            converted = image.convert(_PIL_MODES[channels])
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
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
        image_size: ``[height, width]`` to resize to, or None to keep sizes (then every
            image must already have the same size).
        channels: 1 for grayscale, 3 for RGB.

    Raises:
        ConfigError: ``image_size`` or ``channels`` is invalid.
        SourceError: The folder or one of its images cannot be read.
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
    images, labels, source_ids = [], [], []
    for label, paths in enumerate(files.values()):
        for path in paths:
            images.append(decode_image(path, image_size, channels))
            labels.append(label)
            source_ids.append(str(path.relative_to(root)))
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        examples = {image.shape: source for image, source in zip(images, source_ids, strict=True)}
        listed = "; ".join(f"{src}: {'x'.join(map(str, shape))}" for shape, src in examples.items())
        raise SourceError(
            f"images in {root} have {len(shapes)} different shapes ({listed}); "
            "set ingestion.image_size to resize them"
        )
    return ImageDataset(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=tuple(files),
        source_ids=np.asarray(source_ids),
    )
