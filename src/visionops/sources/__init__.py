"""Readers for every kind of data source visionops ingests.

Each reader turns a source into an :class:`~visionops.image_dataset.ImageDataset` or
raises :class:`~visionops.errors.SourceError` naming the path and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visionops.errors import ConfigError
from visionops.image_dataset import ImageDataset
from visionops.sources.cifar10 import read_cifar10
from visionops.sources.digits import read_digits
from visionops.sources.image_folder import list_image_files, read_image_folder
from visionops.sources.npz import read_npz

SOURCES = ("digits", "image_folder", "cifar10", "npz")


@dataclass(frozen=True)
class SourceImages:
    """The images of a source, in ingestion order, not yet decoded where they are files.

    Attributes:
        class_names: Name of each class, in label order.
        labels: One label per image.
        source_ids: One id per image: the file relative to the folder, or
            ``<source>:<index>``.
        files: The image files (an image folder), or None.
        arrays: The images (digits, CIFAR-10, NPZ: sources that are arrays already),
            or None.
    """

    class_names: tuple[str, ...]
    labels: np.ndarray
    source_ids: list[str]
    files: list[Path] | None = None
    arrays: ImageDataset | None = None

    def __len__(self) -> int:
        return len(self.labels)


def _check_source(source: str, path: str | Path | None) -> Path | None:
    if source not in SOURCES:
        raise ConfigError(
            f"ingestion.source is {source!r}; choose one of {', '.join(SOURCES)} in params.yaml"
        )
    if source == "digits":
        return None
    if not path:
        raise ConfigError(f"ingestion.path must name the {source} source's location")
    return Path(path)


def open_source(source: str, path: str | Path | None) -> SourceImages:
    """Lists the images of the source named by ``source`` at ``path``: an image folder's
    files without reading them, an array source's arrays.

    Raises:
        ConfigError: ``source`` is unknown or ``path`` is missing where needed.
        SourceError: The source cannot be read.
    """
    location = _check_source(source, path)
    if source == "image_folder":
        assert location is not None
        files = list_image_files(location)
        paths = [file for group in files.values() for file in group]
        labels = np.asarray(
            [label for label, group in enumerate(files.values()) for _ in group], dtype=np.int64
        )
        return SourceImages(
            class_names=tuple(files),
            labels=labels,
            source_ids=[str(file.relative_to(location)) for file in paths],
            files=paths,
        )
    if location is None:
        arrays = read_digits()
    else:
        arrays = read_cifar10(location) if source == "cifar10" else read_npz(location)
    return SourceImages(
        class_names=arrays.class_names,
        labels=arrays.labels,
        source_ids=[str(item) for item in arrays.source_ids],
        arrays=arrays,
    )


def read_source(source: str, path: str | Path | None, options: dict[str, Any]) -> ImageDataset:
    """Reads the source named by ``source`` at ``path``.

    Args:
        source: One of :data:`SOURCES`.
        path: The source's file or folder; ignored by ``digits``.
        options: Reader options: ``image_size`` ([height, width] or null) and
            ``channels`` (1 or 3) for image folders.

    Returns:
        The source's images, labels, class names and source ids.

    Raises:
        ConfigError: ``source`` is unknown or ``path`` is missing where needed.
        SourceError: The source cannot be read.
    """
    location = _check_source(source, path)
    if location is None:
        return read_digits()
    path = location
    if source == "image_folder":
        return read_image_folder(
            path, image_size=options.get("image_size"), channels=options.get("channels", 3)
        )
    if source == "cifar10":
        return read_cifar10(path)
    return read_npz(path)
