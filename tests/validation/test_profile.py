"""The image profile: the per-image statistics and hashes the expectation suites check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from visionops.image_dataset import ImageDataset
from visionops.validation.profile import pixel_statistics, profile_images
from visionops.validation.similarity import content_hashes, hash_hex, perceptual_hashes


def _per_channel(images: np.ndarray, reduce) -> np.ndarray:
    """``reduce`` over each image's pixels, channel by channel: ``[N, C]``."""
    count, _, _, channels = images.shape
    return reduce(images.reshape(count, -1, channels).astype(np.float64), axis=1)


def _dataset(images: np.ndarray, read_errors: np.ndarray | None = None) -> ImageDataset:
    count = len(images)
    return ImageDataset(
        images=images,
        labels=np.arange(count, dtype=np.int64) % 2,
        class_names=("a", "b"),
        source_ids=np.asarray([f"test:{index}" for index in range(count)]),
        read_errors=read_errors,
    )


def test_uint8_statistics_match_numpy() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 8, 8, 3), dtype=np.uint8)

    statistics = pixel_statistics(images, (0, 255))

    flat = images.reshape(20, -1).astype(np.float64)
    np.testing.assert_array_equal(statistics["min"], flat.min(axis=1))
    np.testing.assert_array_equal(statistics["max"], flat.max(axis=1))
    np.testing.assert_allclose(statistics["mean"], flat.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(statistics["std"], flat.std(axis=1), rtol=1e-5)
    for channel, (mean, std) in enumerate(
        zip(_per_channel(images, np.mean).T, _per_channel(images, np.std).T, strict=True)
    ):
        np.testing.assert_allclose(statistics[f"mean_c{channel}"], mean, rtol=1e-6)
        np.testing.assert_allclose(statistics[f"std_c{channel}"], std, rtol=1e-5)
    assert statistics["finite"].all()


def test_float_statistics_ignore_nan_and_inf() -> None:
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, size=(10, 8, 8, 3))
    images[2, 0, 0, 1] = np.nan
    images[5, 3, :, 0] = np.nan
    images[7, 1, 1, 2] = np.inf
    finite_only = np.where(np.isfinite(images), images, np.nan)

    statistics = pixel_statistics(images, (0.0, 1.0))

    np.testing.assert_allclose(statistics["mean_c0"], _per_channel(finite_only, np.nanmean)[:, 0])
    np.testing.assert_allclose(statistics["std_c1"], _per_channel(finite_only, np.nanstd)[:, 1])
    np.testing.assert_allclose(statistics["mean"], np.nanmean(finite_only.reshape(10, -1), axis=1))
    np.testing.assert_allclose(statistics["max"], np.nanmax(finite_only.reshape(10, -1), axis=1))
    assert statistics["finite"].tolist() == [index not in (2, 5, 7) for index in range(10)]


def test_saturated_share_counts_pixels_at_either_end() -> None:
    images = np.full((2, 8, 8, 3), 128, dtype=np.uint8)  # 192 values each
    images[0, 0, :5] = 0  # 15 values at the low end
    images[0, 7, :3, 0] = 255  # 3 at the high end

    statistics = pixel_statistics(images, (0, 255))

    np.testing.assert_allclose(statistics["saturated_share"], [18 / 192, 0.0])


def test_identical_content_has_the_same_sha256() -> None:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    changed = image.copy()
    changed[4, 4, 0] ^= 1

    hashes = content_hashes(np.stack([image, image.copy(), changed]))

    assert hashes[0] == hashes[1]
    assert hashes[2] != hashes[0]
    # The same bytes read as another dtype are other pixels.
    assert content_hashes(image[np.newaxis].view(np.int8))[0] != hashes[0]


def test_chunking_gives_the_profile_of_one_chunk(make_images) -> None:
    dataset = _dataset(make_images(30, seed=3))

    whole = profile_images(dataset, chunk_size=4096)
    chunked = profile_images(dataset, chunk_size=7)

    pd.testing.assert_frame_equal(chunked, whole)


def test_the_profile_hash_is_the_perceptual_hash(make_images) -> None:
    """The profile hashes centred pixels; the hash must not depend on that shift."""
    images = make_images(30, seed=4)

    profile = profile_images(_dataset(images))

    assert profile["phash"].tolist() == hash_hex(perceptual_hashes(images)).tolist()


def test_unreadable_rows_keep_file_and_label_but_no_statistics(make_images) -> None:
    images = make_images(4, seed=5)
    images[1] = 0
    errors = np.asarray(["", "image file is truncated", "", ""])

    profile = profile_images(_dataset(images, errors))

    unreadable = profile.iloc[1]
    assert unreadable["source_id"] == "test:1"
    assert unreadable["label"] == 1
    assert not unreadable["readable"]
    assert unreadable["read_error"] == "image file is truncated"
    for column in ("shape", "min", "max", "mean", "std", "mean_c0", "finite", "sha256", "phash"):
        assert pd.isna(unreadable[column]), column
    readable = profile.drop(index=1)
    assert readable[["mean", "std", "sha256", "phash"]].notna().all().all()
    assert readable["read_error"].eq("").all()


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_an_empty_dataset_profiles_to_no_rows(dtype: type) -> None:
    profile = profile_images(_dataset(np.zeros((0, 8, 8, 1), dtype=dtype)))

    assert len(profile) == 0
    assert {"source_id", "mean_c0", "std_c0", "sha256", "phash"} <= set(profile.columns)
