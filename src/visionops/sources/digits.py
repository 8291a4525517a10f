"""scikit-learn's bundled digits: 1,797 real 8x8 grayscale scans of 10 classes."""

from __future__ import annotations

import numpy as np

from visionops.image_dataset import ImageDataset

# The digits scans hold integers from 0 to 16.
DIGITS_MAX_VALUE = 16


def read_digits() -> ImageDataset:
    """Reads the digits set shipped inside scikit-learn (no download).

    Returns:
        1,797 uint8 images of shape 8x8x1, rescaled from 0..16 to 0..255.
    """
    # Imported here: scikit-learn (and SciPy) take 1.4 s to import, which every Kedro
    # run would pay for a source it may not read.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    scaled = np.rint(bunch.images * (255.0 / DIGITS_MAX_VALUE)).astype(np.uint8)
    count = len(scaled)
    return ImageDataset(
        images=scaled[..., np.newaxis],
        labels=bunch.target.astype(np.int64),
        class_names=tuple(str(name) for name in bunch.target_names),
        source_ids=np.asarray([f"digits:{index}" for index in range(count)]),
    )
