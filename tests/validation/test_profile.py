"""The image profile, read from a dataset version's index: the per-image statistics and
hashes the expectation suites check, equal to what the images themselves give."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from visionops.dataplane.layout import SHARDS_DIR
from visionops.dataplane.similarity import content_hashes, hash_hex, perceptual_hashes
from visionops.image_dataset import ImageDataset
from visionops.validation.profile import profile_dataset

COLUMNS = [
    "source_id",
    "label",
    "readable",
    "read_error",
    "height",
    "width",
    "channels",
    "shape",
    "dtype",
    "min",
    "max",
    "mean",
    "std",
    "saturated_share",
    "finite",
    "mean_c0",
    "std_c0",
    "mean_c1",
    "std_c1",
    "mean_c2",
    "std_c2",
    "sha256",
    "phash",
    "duplicate_group",
    "near_duplicate_group",
    "labels_per_content",
]


def _per_channel(images: np.ndarray, reduce) -> np.ndarray:
    """``reduce`` over each image's pixels, channel by channel: ``[N, C]``."""
    count, _, _, channels = images.shape
    return reduce(images.reshape(count, -1, channels).astype(np.float64), axis=1)


def _dataset(images: np.ndarray) -> ImageDataset:
    count = len(images)
    return ImageDataset(
        images=images,
        labels=np.arange(count, dtype=np.int64) % 2,
        class_names=("a", "b"),
        source_ids=np.asarray([f"test:{index}" for index in range(count)]),
    )


def test_the_profile_has_the_columns_the_suites_check(to_version, make_images) -> None:
    profile = profile_dataset(to_version(_dataset(make_images(6, seed=1))))

    assert list(profile.columns) == COLUMNS
    assert profile["shape"].tolist() == ["32x32x3"] * 6
    assert profile["dtype"].tolist() == ["uint8"] * 6
    assert profile["source_id"].tolist() == [f"test:{index}" for index in range(6)]
    assert profile["label"].tolist() == [0, 1, 0, 1, 0, 1]


def test_uint8_statistics_match_numpy(to_version) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 8, 8, 3), dtype=np.uint8)

    profile = profile_dataset(to_version(_dataset(images)))

    flat = images.reshape(20, -1).astype(np.float64)
    np.testing.assert_array_equal(profile["min"], flat.min(axis=1))
    np.testing.assert_array_equal(profile["max"], flat.max(axis=1))
    np.testing.assert_allclose(profile["mean"], flat.mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(profile["std"], flat.std(axis=1), rtol=1e-9)
    for channel, (mean, std) in enumerate(
        zip(_per_channel(images, np.mean).T, _per_channel(images, np.std).T, strict=True)
    ):
        np.testing.assert_allclose(profile[f"mean_c{channel}"], mean, rtol=1e-9)
        np.testing.assert_allclose(profile[f"std_c{channel}"], std, rtol=1e-9)
    assert profile["finite"].all()


def test_float_statistics_ignore_nan_and_inf(to_version) -> None:
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, size=(10, 8, 8, 3)).astype(np.float32)
    images[2, 0, 0, 1] = np.nan
    images[5, 3, :, 0] = np.nan
    images[7, 1, 1, 2] = np.inf
    finite_only = np.where(np.isfinite(images), images, np.nan).astype(np.float64)

    profile = profile_dataset(to_version(_dataset(images)))

    np.testing.assert_allclose(profile["mean_c0"], _per_channel(finite_only, np.nanmean)[:, 0])
    np.testing.assert_allclose(profile["std_c1"], _per_channel(finite_only, np.nanstd)[:, 1])
    np.testing.assert_allclose(profile["mean"], np.nanmean(finite_only.reshape(10, -1), axis=1))
    np.testing.assert_allclose(profile["max"], np.nanmax(finite_only.reshape(10, -1), axis=1))
    assert profile["finite"].tolist() == [index not in (2, 5, 7) for index in range(10)]
    assert profile["dtype"].eq("float32").all()


def test_saturated_share_counts_pixels_at_either_end(to_version) -> None:
    images = np.full((2, 8, 8, 3), 128, dtype=np.uint8)  # 192 values each
    images[0, 0, :5] = 0  # 15 values at the low end
    images[0, 7, :3, 0] = 255  # 3 at the high end

    profile = profile_dataset(to_version(_dataset(images)))

    np.testing.assert_allclose(profile["saturated_share"], [18 / 192, 0.0])


def test_hashes_are_those_of_the_images(to_version, make_images) -> None:
    images = make_images(30, seed=4)

    profile = profile_dataset(to_version(_dataset(images)))

    assert profile["sha256"].tolist() == content_hashes(images).tolist()
    assert profile["phash"].tolist() == hash_hex(perceptual_hashes(images)).tolist()


def test_exact_copies_share_a_group_and_count_their_labels(to_version, make_images) -> None:
    """Image 3 copies image 0 under the other label; image 4 copies image 2 under its own."""
    images = make_images(6, seed=6)
    images[3] = images[0]
    images[4] = images[2]

    profile = profile_dataset(to_version(_dataset(images)))

    assert profile["duplicate_group"].tolist() == [0, 1, 2, 0, 2, 5]
    assert profile["labels_per_content"].tolist() == [2, 1, 1, 2, 1, 1]


def test_a_resized_copy_is_a_near_duplicate_from_the_stored_thumbnails(
    to_version, make_images, make_resized_copy
) -> None:
    images = make_images(8, seed=7)
    images[5] = make_resized_copy(images[1])
    dataset = to_version(_dataset(images))
    shutil.rmtree(dataset.folder / SHARDS_DIR)  # only the index and the thumbnails

    profile = profile_dataset(dataset, {"max_hash_distance": 6, "min_correlation": 0.99})

    assert profile["near_duplicate_group"].tolist() == [0, 1, 2, 3, 4, 1, 6, 7]
    assert profile["duplicate_group"].tolist() == list(range(8))


def test_unreadable_rows_keep_file_and_label_but_no_statistics(ingest, image_folder) -> None:
    root, paths = image_folder
    paths[1].write_bytes(paths[1].read_bytes()[:100])

    profile = profile_dataset(ingest("image_folder", root))

    unreadable = profile.iloc[1]
    assert unreadable["source_id"] == "cloud/img_001.png"
    assert unreadable["label"] == 0
    assert not unreadable["readable"]
    assert unreadable["read_error"].startswith("cannot decode image:")
    for column in ("shape", "min", "max", "mean", "std", "mean_c0", "finite", "sha256", "phash"):
        assert pd.isna(unreadable[column]), column
    assert unreadable["near_duplicate_group"] is None
    readable = profile.drop(index=1)
    assert readable[["mean", "std", "sha256", "phash"]].notna().all().all()
    assert readable["read_error"].eq("").all()
    assert (readable["near_duplicate_group"].to_numpy() == readable.index.to_numpy()).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_an_empty_dataset_profiles_to_no_rows(to_version, dtype: type) -> None:
    profile = profile_dataset(to_version(_dataset(np.zeros((0, 8, 8, 1), dtype=dtype))))

    assert len(profile) == 0
    assert {"source_id", "label", "readable", "shape", "std", "sha256", "phash"} <= set(
        profile.columns
    )
