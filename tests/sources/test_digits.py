"""The bundled scikit-learn digits source."""

from __future__ import annotations

import numpy as np
import pytest

from visionops.image_dataset import ImageDataset
from visionops.sources import read_source
from visionops.sources.digits import read_digits


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    """The digits set, read once for the module."""
    return read_digits()


def test_digits_has_every_scan_as_8x8_grayscale_uint8(digits: ImageDataset) -> None:
    """All 1,797 scans come out as uint8 8x8x1 images."""
    assert len(digits) == 1797
    assert digits.images.shape == (1797, 8, 8, 1)
    assert digits.image_shape == (8, 8, 1)
    assert digits.images.dtype == np.uint8


def test_digits_are_rescaled_to_the_full_uint8_range(digits: ImageDataset) -> None:
    """The 0..16 scans are stretched to 0..255, not left dim."""
    assert int(digits.images.max()) == 255
    assert int(digits.images.min()) == 0


def test_digits_name_ten_classes_by_digit(digits: ImageDataset) -> None:
    """Classes are named "0".."9" and every label indexes one of them."""
    assert digits.class_names == tuple(str(digit) for digit in range(10))
    assert digits.labels.dtype == np.int64
    assert set(np.unique(digits.labels).tolist()) == set(range(10))


def test_digits_source_ids_are_unique(digits: ImageDataset) -> None:
    """Every image can be traced back to one distinct scan."""
    assert len(set(digits.source_ids.tolist())) == len(digits)
    assert digits.source_ids[0] == "digits:0"


def test_read_source_digits_ignores_path() -> None:
    """The digits source needs no path and ignores one given by mistake."""
    dataset = read_source("digits", "/does/not/exist", {})
    assert len(dataset) == 1797


def test_digits_are_the_scans_and_classes_load_digits_gives(digits: ImageDataset) -> None:
    """Read straight from scikit-learn's file, the scans and classes are
    ``load_digits``'s, in its order."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    expected = np.rint(bunch.images * (255.0 / 16)).astype(np.uint8)[..., np.newaxis]
    np.testing.assert_array_equal(digits.images, expected)
    np.testing.assert_array_equal(digits.labels, bunch.target)
