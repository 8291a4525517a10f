"""Perceptual hashes and near-duplicates: copies are found, look-alikes are not."""

from __future__ import annotations

import numpy as np
import pytest

from visionops.dataplane.similarity import (
    group_pairs,
    hash_hex,
    hashes_from_gray,
    near_duplicate_groups,
    near_duplicate_pairs,
    perceptual_hashes,
)

MAX_HASH_DISTANCE = 6
MIN_CORRELATION = 0.99


def _distances(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Differing bits between the hashes of ``first[i]`` and ``second[i]``."""
    return np.bitwise_count(perceptual_hashes(first) ^ perceptual_hashes(second))


def _pairs(images: np.ndarray, candidates: np.ndarray | None = None) -> list[list[int]]:
    hashes = perceptual_hashes(images)
    found = near_duplicate_pairs(images, hashes, MAX_HASH_DISTANCE, MIN_CORRELATION, candidates)
    return found.tolist()


@pytest.fixture
def originals(make_images) -> np.ndarray:
    """40 distinct natural-ish 32x32x3 images."""
    return make_images(40, seed=11)


def test_identical_images_have_equal_hashes(originals) -> None:
    assert (_distances(originals, originals.copy()) == 0).all()


def test_a_resized_copy_keeps_nearly_all_bits(originals, make_resized_copy) -> None:
    copies = np.stack([make_resized_copy(image) for image in originals])

    assert not np.array_equal(copies, originals)
    assert _distances(originals, copies).max() <= MAX_HASH_DISTANCE


def test_unrelated_images_have_distant_hashes(originals) -> None:
    distances = _distances(originals, np.roll(originals, 1, axis=0))

    assert np.median(distances) >= 24  # 32 of 64 bits for independent hashes
    assert distances.min() > MAX_HASH_DISTANCE


def test_the_hash_ignores_a_constant_brightness_shift(originals) -> None:
    gray = originals.astype(np.float32).mean(axis=3)

    assert (hashes_from_gray(gray + 50) == hashes_from_gray(gray)).all()


def test_hashes_print_as_sixteen_hex_digits() -> None:
    hashes = np.asarray([0, 1, 2**64 - 1], dtype=np.uint64)

    assert hash_hex(hashes).tolist() == ["0" * 16, "0" * 15 + "1", "f" * 16]


def test_resized_copies_are_found(originals, make_resized_copy) -> None:
    copies = np.stack([make_resized_copy(image) for image in originals])

    pairs = _pairs(np.concatenate([originals, copies]))

    assert pairs == [[index, 40 + index] for index in range(40)]


def test_jpeg_copies_are_found(originals, make_jpeg_copy) -> None:
    """Quality 90 JPEG copies of smooth 32x32 images keep all but a few hash bits;
    now and then one moves more than max_hash_distance (8 bits for one of these 40),
    so the test asks for 95% found, and for no pair that is not an original and its
    copy."""
    copies = np.stack([make_jpeg_copy(image) for image in originals])

    pairs = _pairs(np.concatenate([originals, copies]))

    assert all(second == first + 40 for first, second in pairs)
    assert len(pairs) >= 38


def test_distinct_natural_images_are_not_near_duplicates(make_images) -> None:
    assert _pairs(make_images(200, seed=12)) == []


def test_unreadable_rows_are_never_paired(originals) -> None:
    """Unreadable images are all zeros: alike, but no copies of each other."""
    images = np.concatenate([originals[:5], np.zeros((3, 32, 32, 3), dtype=np.uint8)])
    readable = np.arange(len(images)) < 5

    assert _pairs(images, candidates=readable) == []


def test_group_pairs_chains_pairs_into_groups() -> None:
    """0-2 and 2-4 make one group even though 0 and 4 were never paired."""
    groups = group_pairs(7, np.asarray([[4, 2], [2, 0], [5, 3]]))

    assert groups.tolist() == [0, 1, 0, 3, 0, 3, 6]


def test_a_copy_of_a_copy_joins_the_original_group(originals, make_resized_copy) -> None:
    once = make_resized_copy(originals[0])
    twice = make_resized_copy(once, side=64)
    images = np.concatenate([originals[:3], [once], originals[3:5], [twice]])

    groups = near_duplicate_groups(
        images, perceptual_hashes(images), MAX_HASH_DISTANCE, MIN_CORRELATION
    )

    assert groups.tolist() == [0, 1, 2, 0, 4, 5, 0]


def test_flat_images_are_near_duplicates_only_when_equally_bright() -> None:
    black = np.zeros((1, 16, 16, 3), dtype=np.uint8)
    white = np.full((1, 16, 16, 3), 255, dtype=np.uint8)
    images = np.concatenate([black, white, black.copy()])
    pairs = near_duplicate_pairs(images, perceptual_hashes(images))
    assert pairs.tolist() == [[0, 2]]
