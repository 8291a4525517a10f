"""Each image's profile (perceptual hash, thumbnail, statistics) is its own: the same
whichever images share its batch, and defined in integers for 8-bit images."""

from __future__ import annotations

import numpy as np
from PIL import Image

from visionops.dataplane.batch import process_arrays
from visionops.dataplane.images import describe_pixels, finish_profiles
from visionops.dataplane.similarity import hash_hex, perceptual_hashes, signature_gray


def _images(seed: int, count: int, side: int, channels: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, side, side, channels), dtype=np.uint8)


def test_a_row_is_the_same_alone_and_in_a_batch_of_mixed_sizes() -> None:
    mixed = [*_images(1, 3, 48, 3), *_images(2, 2, 8, 3), *_images(3, 2, 100, 3)]
    batch = [describe_pixels(image) for image in mixed]
    finish_profiles(batch)
    for image, processed in zip(mixed, batch, strict=True):
        alone = process_arrays(image[np.newaxis])
        for column in ("phash", "sha256", "mean", "std", "min", "max", "mean_c2", "std_c1"):
            assert processed.row[column] == alone.columns[column][0]
        assert np.array_equal(processed.thumbnail, alone.thumbnails[0])


def test_the_index_hash_is_perceptual_hashes_of_the_stored_pixels() -> None:
    for channels in (1, 3):
        images = _images(4, 5, 70, channels)
        columns = process_arrays(images).columns
        assert columns["phash"] == hash_hex(perceptual_hashes(images)).tolist()


def test_the_signature_gray_is_pillow_s_luma_reduced_over_whole_blocks() -> None:
    (image,) = _images(5, 1, 128, 3)
    expected = Image.fromarray(image).convert("L").reduce(4)
    assert np.array_equal(signature_gray(image), np.asarray(expected))
    (odd,) = _images(6, 1, 70, 3)  # 70 // 32 = 2: reduced to 35, then box-resized to 32
    reduced = Image.fromarray(odd).convert("L").reduce(2).resize((32, 32), Image.Resampling.BOX)
    assert np.array_equal(signature_gray(odd), np.asarray(reduced))
    (small,) = _images(7, 1, 8, 1)  # smaller than 32: kept as it is
    assert np.array_equal(signature_gray(small), small[..., 0])


def test_statistics_are_exact_for_a_known_image() -> None:
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    image[0, 0] = (255, 0, 0)
    image[1, 1] = (0, 255, 255)
    columns = process_arrays(image[np.newaxis]).columns
    assert columns["min"] == [0.0] and columns["max"] == [255.0]
    assert columns["mean"] == [255 * 3 / 12]
    assert columns["saturated_share"] == [1.0]
    assert columns["mean_c0"] == [255 / 4] and columns["mean_c1"] == [255 / 4]
    assert columns["std_c0"] == [float(np.std([255, 0, 0, 0]))]
