"""Readers for every kind of data source visionops ingests.

Each reader turns a source into an :class:`~visionops.image_dataset.ImageDataset` or
raises :class:`~visionops.errors.SourceError` naming the path and the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visionops.errors import ConfigError
from visionops.image_dataset import ImageDataset
from visionops.sources.cifar10 import read_cifar10
from visionops.sources.digits import read_digits
from visionops.sources.image_folder import read_image_folder
from visionops.sources.npz import read_npz

SOURCES = ("digits", "image_folder", "cifar10", "npz")


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
    if source not in SOURCES:
        raise ConfigError(
            f"ingestion.source is {source!r}; choose one of {', '.join(SOURCES)} "
            "in conf/base/parameters_ingestion.yml"
        )
    if source == "digits":
        return read_digits()
    if not path:
        raise ConfigError(f"ingestion.path must name the {source} source's location")
    path = Path(path)
    if source == "image_folder":
        return read_image_folder(
            path, image_size=options.get("image_size"), channels=options.get("channels", 3)
        )
    if source == "cifar10":
        return read_cifar10(path)
    return read_npz(path)
