"""scikit-learn's bundled digits: 1,797 real 8x8 grayscale scans of 10 classes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from visionops.errors import SourceError
from visionops.image_dataset import ImageDataset

# The digits scans hold integers from 0 to 16.
DIGITS_MAX_VALUE = 16
DIGITS_FILE = "digits.csv.gz"
DIGITS_SIDE = 8


def digits_file() -> Path:
    """The file scikit-learn's ``load_digits`` reads: one scan per row, its 64 pixels
    and then its class.

    Found without importing scikit-learn, whose import (SciPy's with it) takes 1.5 to
    2.3 s, most of the ingestion stage's time on the digits.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("the digits source needs scikit-learn, which is not installed")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / DIGITS_FILE
    if not path.is_file():
        raise SourceError(f"scikit-learn's digits file {path} is missing")
    return path


def read_digits() -> ImageDataset:
    """Reads the digits set shipped inside scikit-learn (no download), as
    ``sklearn.datasets.load_digits`` does.

    Returns:
        1,797 uint8 images of shape 8x8x1, rescaled from 0..16 to 0..255.
    """
    table = np.loadtxt(digits_file(), delimiter=",")
    images = table[:, :-1].reshape(-1, DIGITS_SIDE, DIGITS_SIDE)
    labels = table[:, -1].astype(np.int64)
    scaled = np.rint(images * (255.0 / DIGITS_MAX_VALUE)).astype(np.uint8)
    count = len(scaled)
    return ImageDataset(
        images=scaled[..., np.newaxis],
        labels=labels,
        class_names=tuple(str(name) for name in range(10)),
        source_ids=np.asarray([f"digits:{index}" for index in range(count)]),
    )
