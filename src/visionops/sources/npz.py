"""An NPZ file with arrays ``images``, ``labels`` and optionally ``class_names``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from visionops.errors import SourceError
from visionops.image_dataset import ImageDataset


def read_npz(path: Path) -> ImageDataset:
    """Reads an NPZ file without unpickling anything (``allow_pickle=False``).

    ``images`` is ``[N, H, W]`` or ``[N, H, W, C]``; ``labels`` holds integers from 0;
    ``class_names``, when present, names each label, else labels are named by number.

    Raises:
        SourceError: The file is missing, not an NPZ, holds object arrays, or lacks
            ``images`` or ``labels``.
    """
    if not path.is_file():
        raise SourceError(f"NPZ file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise SourceError(f"{path} holds one array, not an NPZ archive of named arrays")
            missing = [key for key in ("images", "labels") if key not in archive.files]
            if missing:
                raise SourceError(
                    f"NPZ file {path} has no array {' or '.join(map(repr, missing))}; "
                    f"it holds {sorted(archive.files)}"
                )
            images = archive["images"]
            labels = archive["labels"]
            names = archive["class_names"] if "class_names" in archive.files else None
    except (ValueError, OSError, TypeError, zipfile.BadZipFile) as error:
        raise SourceError(f"cannot read NPZ file {path}: {error}") from error
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4:
        raise SourceError(
            f"'images' in {path} must be [N, H, W] or [N, H, W, C]; got {images.shape}"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise SourceError(
            f"'labels' in {path} must be a 1-D integer array; got {labels.dtype} {labels.shape}"
        )
    if names is None:
        count = int(labels.max()) + 1 if labels.size else 0
        class_names = tuple(str(index) for index in range(count))
    else:
        class_names = tuple(str(name) for name in names.tolist())
    return ImageDataset(
        images=images,
        labels=labels.astype(np.int64),
        class_names=class_names,
        source_ids=np.asarray([f"{path.name}:{index}" for index in range(len(labels))]),
    )
