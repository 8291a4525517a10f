"""Readers for every kind of data source visionops ingests, one source or several.

Each reader turns a source into an :class:`~visionops.image_dataset.ImageDataset` or
raises :class:`~visionops.errors.SourceError` naming the path and the problem.

``ingestion.source`` names one source (read at ``ingestion.path``) or a list of them,
ingested together as one dataset version: each entry a source name (read at
``ingestion.path``) or ``{source: NAME, path: PATH}``, e.g. the digits plus the labelled
production images ``visionops feedback export`` wrote::

    source: [digits, {source: image_folder, path: data/01_raw/feedback}]

Classes are matched by name (the first source's order, then new names as they come);
a later source's images are resized to the first one's image size and channels when
the first is an array source. Relative paths are taken from the working folder, the
project's when ``kedro run`` or ``dvc repro`` runs. Each source is described in
:attr:`SourceImages.sources`, with the export manifest of a feedback folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visionops.errors import ConfigError, SourceError
from visionops.image_dataset import ImageDataset
from visionops.sources.cifar10 import read_cifar10
from visionops.sources.digits import read_digits
from visionops.sources.image_folder import list_image_files, read_image_folder
from visionops.sources.npz import read_npz

SOURCES = ("digits", "image_folder", "cifar10", "npz")
# What `visionops feedback export` writes beside the class folders of an image folder.
FEEDBACK_MANIFEST = "feedback.json"


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
        sources: Each source read: ``source``, ``path``, ``images`` and, for a folder
            ``visionops feedback export`` wrote, ``feedback`` (its manifest's summary).
    """

    class_names: tuple[str, ...]
    labels: np.ndarray
    source_ids: list[str]
    files: list[Path] | None = None
    arrays: ImageDataset | None = None
    sources: tuple[dict[str, Any], ...] = field(default_factory=tuple)

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


def source_entries(source: Any, path: str | Path | None) -> list[tuple[str, Path | None]]:
    """The (source, path) pairs ``ingestion.source`` names: one, or one per list entry.

    Raises:
        ConfigError: An entry is neither a source name nor ``{source, path}``, or a
            source is unknown or lacks its path.
    """
    entries = source if isinstance(source, list) else [source]
    if not entries:
        raise ConfigError("ingestion.source is an empty list; name at least one source")
    pairs = []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"source", "path"})
            if unknown or "source" not in entry:
                raise ConfigError(
                    f"ingestion.source entry {index} must be a source name or "
                    f"{{source: NAME, path: PATH}}; got {entry!r}"
                )
            name, where = entry["source"], entry.get("path")
        else:
            name, where = entry, path
        if not isinstance(name, str):
            raise ConfigError(f"ingestion.source entry {index} must name a source; got {name!r}")
        pairs.append((name, _check_source(name, where)))
    return pairs


def resolve_paths(source: Any, root: Path) -> Any:
    """``ingestion.source`` with each list entry's relative ``path`` taken from ``root``."""
    if not isinstance(source, list):
        return source
    return [
        {**entry, "path": str(Path(root) / entry["path"])}
        if isinstance(entry, dict) and entry.get("path")
        else entry
        for entry in source
    ]


def _describe(name: str, location: Path | None, images: SourceImages) -> dict[str, Any]:
    description: dict[str, Any] = {
        "source": name,
        "path": None if location is None else str(location),
        "images": len(images),
    }
    manifest = None if location is None else location / FEEDBACK_MANIFEST
    if manifest is not None and manifest.is_file():
        try:
            content = json.loads(manifest.read_text())
        except (OSError, ValueError) as error:
            raise SourceError(f"feedback manifest {manifest} cannot be read: {error}") from error
        description["feedback"] = {key: value for key, value in content.items() if key != "items"}
    return description


def open_source(source: Any, path: str | Path | None) -> SourceImages:
    """Lists the images of the source(s) ``source`` names (see the module doc): an image
    folder's files without reading them, an array source's arrays.

    Raises:
        ConfigError: A source is unknown or its path is missing where needed.
        SourceError: A source cannot be read, or the sources' images cannot be merged.
    """
    pairs = source_entries(source, path)
    parts = [(name, location, _open_one(name, location)) for name, location in pairs]
    if len(parts) == 1:
        name, location, images = parts[0]
        return _with_sources(images, (_describe(name, location, images),))
    return _merge(parts)


def _with_sources(images: SourceImages, sources: tuple[dict[str, Any], ...]) -> SourceImages:
    return SourceImages(
        images.class_names, images.labels, images.source_ids, images.files, images.arrays, sources
    )


def _merge(parts: list[tuple[str, Path | None, SourceImages]]) -> SourceImages:
    """One listing of several sources' images, classes matched by name."""
    names: list[str] = []
    for _, _, images in parts:
        names += [name for name in images.class_names if name not in names]
    labels, source_ids = [], []
    for index, (_, location, images) in enumerate(parts):
        table = np.asarray([names.index(name) for name in images.class_names], dtype=np.int64)
        labels.append(table[images.labels] if len(images) else images.labels)
        prefix = "" if index == 0 or location is None else f"{location.name}/"
        source_ids += [prefix + item for item in images.source_ids]
    sources = tuple(_describe(name, location, images) for name, location, images in parts)
    merged_labels = np.concatenate(labels).astype(np.int64)
    if all(images.files is not None for _, _, images in parts):
        files = [file for _, _, images in parts for file in images.files or []]
        return SourceImages(tuple(names), merged_labels, source_ids, files=files, sources=sources)
    first = next(images.arrays for _, _, images in parts if images.arrays is not None)
    height, width, channels = first.images.shape[1:]
    arrays = []
    for name, location, images in parts:
        if images.arrays is not None:
            array = images.arrays.images
        else:
            assert location is not None
            array = read_image_folder(
                location, image_size=(height, width), channels=channels
            ).images
        if array.shape[1:] != first.images.shape[1:]:
            raise SourceError(
                f"source {name} at {location} holds {'x'.join(map(str, array.shape[1:]))} "
                f"images, the first source {'x'.join(map(str, first.images.shape[1:]))}; "
                "sources ingested together must have one image shape"
            )
        arrays.append(array)
    dataset = ImageDataset(
        images=np.concatenate(arrays),
        labels=merged_labels,
        class_names=tuple(names),
        source_ids=np.asarray(source_ids),
    )
    return SourceImages(tuple(names), merged_labels, source_ids, arrays=dataset, sources=sources)


def _open_one(source: str, location: Path | None) -> SourceImages:
    """The listing of one checked source (see :func:`open_source`)."""
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
            # <class folder>/<file name>, what relative_to gives, at a tenth of its time.
            source_ids=[f"{name}/{file.name}" for name, group in files.items() for file in group],
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
