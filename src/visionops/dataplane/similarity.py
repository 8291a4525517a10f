"""Exact and near-duplicate images: content hashes, perceptual hashes, and their groups.

The perceptual hash is the DCT hash (pHash): each image is turned to gray, resized
to 32x32, transformed with a 2-D DCT, and the 8x8 lowest frequencies (without the
constant term's row and column) are compared with their median, one bit each. A
resized or re-encoded copy of an image keeps nearly all of its bits, so two images
whose hashes differ in at most a few bits are taken as near-duplicates.

An 8-bit image (1 or 3 channels) is turned gray and shrunk in Pillow, in integer
arithmetic (:func:`signature_gray`): the same bits on any machine, and a tenth of the
floating-point work of a full-size gray image.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
from PIL import Image

HASH_SIZE = 8
THUMBNAIL_SIDE = 16
_DCT_SIZE = 32
_HASH_BITS = HASH_SIZE * HASH_SIZE


def content_hashes(images: np.ndarray) -> np.ndarray:
    """sha256 of each image's shape, dtype and pixel bytes, as hex strings."""
    header = f"{images.shape[1:]}{images.dtype.str}".encode()
    return np.asarray(
        [
            hashlib.sha256(header + np.ascontiguousarray(image).tobytes()).hexdigest()
            for image in images
        ],
        dtype="<U64",
    )


@lru_cache(maxsize=256)
def _resize_matrix(source: int, target: int) -> np.ndarray:
    """A ``[target, source]`` matrix that resizes one axis by averaging (area) or by
    linear interpolation (when enlarging)."""
    matrix = np.zeros((target, source), dtype=np.float64)
    if source >= target:
        edges = np.linspace(0, source, target + 1)
        for row in range(target):
            start, stop = edges[row], edges[row + 1]
            for column in range(int(np.floor(start)), int(np.ceil(stop))):
                overlap = min(stop, column + 1) - max(start, column)
                if overlap > 0:
                    matrix[row, column] = overlap / (stop - start)
        matrix.setflags(write=False)  # cached: shared by every caller
        return matrix
    centres = (np.arange(target) + 0.5) * source / target - 0.5
    centres = np.clip(centres, 0, source - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, source - 1)
    weight = centres - low
    matrix[np.arange(target), low] += 1 - weight
    matrix[np.arange(target), high] += weight
    matrix.setflags(write=False)  # cached: shared by every caller
    return matrix


@lru_cache(maxsize=8)
def _dct_matrix(size: int) -> np.ndarray:
    """The orthonormal DCT-II matrix of ``size`` points."""
    frequencies = np.arange(size)[:, None]
    positions = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (2 * positions + 1) * frequencies / (2 * size)) * np.sqrt(2 / size)
    matrix[0] /= np.sqrt(2)
    matrix.setflags(write=False)  # cached: shared by every caller
    return matrix


def luma_weights(channels: int) -> np.ndarray:
    """``[channels, 1]`` weights that turn pixels gray: ITU-R BT.601 luma for RGB (JPEG
    keeps luma sharp and blurs colour, so copies agree on it), the mean otherwise."""
    if channels == 3:
        return np.asarray([[0.299], [0.587], [0.114]])
    return np.full((channels, 1), 1.0 / channels)


def gray_images(images: np.ndarray) -> np.ndarray:
    """``[N, H, W]`` float64 gray images (:func:`luma_weights`), for images that do not
    take :func:`signature_gray` (e.g. float pixels); non-finite pixels count as zero.
    Summed channel by channel, element by element, so the same pixels give the same bits
    on any machine (a BLAS product may round differently)."""
    count, height, width, channels = images.shape
    weights = luma_weights(channels)[:, 0]
    gray = np.zeros((count, height, width), dtype=np.float64)
    for channel in range(channels):
        gray += images[..., channel] * weights[channel]
    if np.issubdtype(images.dtype, np.floating):
        gray = np.nan_to_num(gray, nan=0.0, posinf=0.0, neginf=0.0)
    return gray


def signature_gray(pixels: np.ndarray, image: Image.Image | None = None) -> np.ndarray:
    """The ``[h, w]`` uint8 gray image whose signatures (:func:`gray_signatures`) an
    8-bit ``[H, W, C]`` image (C 1 or 3) gets: Pillow's luma (``L``: ITU-R 601-2, in
    fixed point), then, where a side is over 32 pixels, shrunk towards 32 in integers:
    averaged over whole blocks (Pillow's ``reduce``, by the largest factor that keeps
    the side at 32 or more), then, where still over 32, resized to 32 by Pillow's box
    filter.

    Args:
        pixels: uint8 ``[H, W, C]`` pixels, C 1 or 3.
        image: The same pixels as a Pillow image (L or RGB), where one is at hand.
    """
    height, width, _ = pixels.shape
    image = pillow_image(pixels) if image is None else image
    gray = image if image.mode == "L" else image.convert("L")
    factors = (max(1, width // _DCT_SIZE), max(1, height // _DCT_SIZE))
    if factors != (1, 1):
        gray = gray.reduce(factors)
    small = (min(gray.width, _DCT_SIZE), min(gray.height, _DCT_SIZE))
    if small != gray.size:
        gray = gray.resize(small, Image.Resampling.BOX)
    return np.frombuffer(gray.tobytes(), dtype=np.uint8).reshape(gray.height, gray.width)


def pillow_image(pixels: np.ndarray) -> Image.Image:
    """uint8 ``[H, W, C]`` pixels (C 1 or 3) as a Pillow image (L or RGB) sharing
    their memory where they are contiguous."""
    height, width, channels = pixels.shape
    mode = "L" if channels == 1 else "RGB"
    plane = np.ascontiguousarray(pixels)
    return Image.frombuffer(mode, (width, height), plane, "raw", mode, 0, 1)


def is_pillow_gray_source(pixels: np.ndarray) -> bool:
    """Whether ``[..., H, W, C]`` pixels take :func:`signature_gray` (8 bits, 1 or 3
    channels), rather than :func:`gray_images`' float luma at full size."""
    return pixels.dtype == np.uint8 and pixels.shape[-1] in (1, 3)


@lru_cache(maxsize=64)
def _signature_matrices(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``[25, height]`` and ``[width, 25]`` float64 matrices: per axis, the hash's resize
    to 32 and DCT (the 9 lowest frequencies) stacked over the thumbnail's resize to 16.

    Resizing and the DCT are both linear, so they fold into one matrix per axis, and
    one pair of matrix products gives an image's hash frequencies and its thumbnail.
    """
    dct = _dct_matrix(_DCT_SIZE)[: HASH_SIZE + 1]
    left = np.vstack(
        [dct @ _resize_matrix(height, _DCT_SIZE), _resize_matrix(height, THUMBNAIL_SIDE)]
    )
    right = np.vstack(
        [dct @ _resize_matrix(width, _DCT_SIZE), _resize_matrix(width, THUMBNAIL_SIDE)]
    ).T.copy()
    left.setflags(write=False)  # cached: shared by every caller
    right.setflags(write=False)
    return left, right


def gray_signatures(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each ``[H, W]`` gray image's 64-bit DCT perceptual hash (``uint64``) and its
    16x16 thumbnail (``[N, 256]`` float32, :data:`THUMBNAIL_SIDE`).

    Adding a constant to an image changes only the DCT's constant term, which the
    hash leaves out, so ``gray`` may be shifted by any constant.

    The same image gives the same hash on any machine: the products are in float64, and
    the frequencies are rounded to 2^-24 of the largest before they are compared with
    their median, so that rounding differences between BLAS kernels or libm versions
    (last bits) cannot flip a bit, and frequencies that are zero in exact arithmetic
    (an enlarged 8x8 digit has many) compare as equal, not by the sign of their noise.
    """
    size, height, width = gray.shape
    left, right = _signature_matrices(height, width)
    flat = gray.reshape(size * height, width).astype(np.float64)
    both = left @ (flat @ right).reshape(size, height, -1)  # [N, 25, 25]
    frequencies = HASH_SIZE + 1
    low = both[:, 1:frequencies, 1:frequencies].reshape(size, _HASH_BITS)
    largest = np.abs(low).max(axis=1, keepdims=True)
    steps = np.rint(
        low * np.divide(2.0**24, largest, out=np.zeros_like(largest), where=largest > 0)
    )
    # The median of 64 values: the mean of the middle two.
    middle = np.sort(steps, axis=1)[:, _HASH_BITS // 2 - 1 : _HASH_BITS // 2 + 1]
    bits = steps > middle.mean(axis=1, keepdims=True)
    # Bit i of the hash is frequency i (row-major): bytes little-endian, bits likewise.
    hashes = np.packbits(bits, axis=1, bitorder="little").view("<u8")[:, 0].astype(np.uint64)
    thumbnails = both[:, frequencies:, frequencies:].reshape(size, -1).astype(np.float32)
    return hashes, thumbnails


def hashes_from_gray(gray: np.ndarray) -> np.ndarray:
    """The 64-bit DCT perceptual hash of each ``[H, W]`` gray image, as ``uint64``
    (:func:`gray_signatures`)."""
    return gray_signatures(gray)[0]


def perceptual_hashes(images: np.ndarray, chunk_size: int = 8192) -> np.ndarray:
    """The 64-bit DCT perceptual hash of each ``[H, W, C]`` image, as ``uint64``: of
    :func:`signature_gray` for 8-bit images, else of :func:`gray_images` (non-finite
    pixels count as zero), in chunks so memory stays bounded.
    """
    hashes = np.empty(len(images), dtype=np.uint64)
    pillow = is_pillow_gray_source(images)
    for start in range(0, len(images), chunk_size):
        chunk = images[start : start + chunk_size]
        gray = (
            np.stack([signature_gray(image) for image in chunk]) if pillow else gray_images(chunk)
        )
        hashes[start : start + len(chunk)] = hashes_from_gray(gray)
    return hashes


def hash_hex(hashes: np.ndarray) -> np.ndarray:
    """Perceptual hashes as 16-digit hex strings, for reports and tables."""
    return np.asarray([f"{int(value):016x}" for value in hashes], dtype="<U16")


def gray_thumbnails(gray: np.ndarray) -> np.ndarray:
    """``[N, 256]`` float32 16x16 thumbnails of ``[N, H, W]`` gray images
    (:func:`gray_signatures`)."""
    return gray_signatures(gray)[1]


def normalized_thumbnails(small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thumbnails (:func:`gray_thumbnails`) centred and scaled to unit length, one row
    per image (a flat image gives a row of zeros), and each thumbnail's mean."""
    small = np.asarray(small, dtype=np.float32).copy()
    means = small.mean(axis=1)
    small -= means[:, None]
    norms = np.linalg.norm(small, axis=1, keepdims=True)
    return np.divide(small, norms, out=np.zeros_like(small), where=norms > 1e-6), means


def _bands(max_distance: int) -> list[tuple[int, int]]:
    """Splits 64 bits into ``max_distance + 1`` bands: two hashes at most
    ``max_distance`` bits apart agree exactly on at least one band (pigeonhole)."""
    count = min(max_distance, _HASH_BITS - 1) + 1
    edges = np.linspace(0, _HASH_BITS, count + 1).astype(int)
    return list(zip(edges[:-1], edges[1:], strict=True))


def _hash_candidates(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """``[P, 2]`` index pairs ``i < j`` whose hashes are at most ``max_distance`` apart."""
    found: list[np.ndarray] = []
    for low_bit, high_bit in _bands(max_distance):
        mask = np.uint64((1 << (high_bit - low_bit)) - 1) if high_bit - low_bit < 64 else None
        keys = hashes >> np.uint64(low_bit)
        keys = keys & mask if mask is not None else keys
        order = np.argsort(keys, kind="stable")
        boundaries = np.flatnonzero(np.diff(keys[order])) + 1
        for bucket in np.split(order, boundaries):
            if len(bucket) < 2:
                continue
            members = np.sort(bucket)
            close = np.bitwise_count(hashes[members][:, None] ^ hashes[members][None, :])
            first, second = np.nonzero(np.triu(close <= max_distance, k=1))
            found.append(np.stack([members[first], members[second]], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)


def near_duplicate_pairs(
    images: np.ndarray,
    hashes: np.ndarray,
    max_hash_distance: int = 6,
    min_correlation: float = 0.98,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Pairs of images that are near-duplicates: resized, re-encoded or slightly
    edited copies of each other, identical copies included.

    Two images are near-duplicates when their perceptual hashes are at most
    ``max_hash_distance`` bits apart and their gray 16x16 thumbnails correlate at
    least ``min_correlation``. The hash finds candidates fast; the correlation keeps
    merely similar images (two scans of the same digit) apart.

    Args:
        images: ``[N, H, W, C]`` images.
        hashes: Their :func:`perceptual_hashes`.
        max_hash_distance: Most differing hash bits between near-duplicates.
        min_correlation: Least thumbnail correlation between near-duplicates.
        candidates: Mask of the images to consider (e.g. the readable ones).

    Returns:
        ``[P, 2]`` sorted index pairs ``i < j``.
    """
    raw = gray_thumbnails(gray_images(images))
    return thumbnail_pairs(hashes, raw, max_hash_distance, min_correlation, candidates)


def group_pairs(count: int, pairs: np.ndarray) -> np.ndarray:
    """Connected groups of ``count`` items linked by ``pairs``.

    Returns:
        For each item, the smallest index in its group.
    """
    parent = np.arange(count)

    def find(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return int(item)

    for first, second in pairs:
        root_first, root_second = find(int(first)), find(int(second))
        if root_first != root_second:
            parent[max(root_first, root_second)] = min(root_first, root_second)
    return np.asarray([find(item) for item in range(count)], dtype=np.int64)


def near_duplicate_groups(
    images: np.ndarray,
    hashes: np.ndarray,
    max_hash_distance: int = 6,
    min_correlation: float = 0.98,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Groups of near-duplicates (see :func:`near_duplicate_pairs`); a chain of
    near-duplicates forms one group.

    Returns:
        For each image, the index of the first image of its group.
    """
    pairs = near_duplicate_pairs(images, hashes, max_hash_distance, min_correlation, candidates)
    return group_pairs(len(images), pairs)


def hashes_from_hex(phashes: np.ndarray) -> np.ndarray:
    """Perceptual hashes from their hex strings (the index's ``phash`` column)."""
    return np.asarray([int(value, 16) for value in phashes], dtype=np.uint64)


def thumbnail_pairs(
    hashes: np.ndarray,
    thumbnails: np.ndarray,
    max_hash_distance: int = 6,
    min_correlation: float = 0.98,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`near_duplicate_pairs` from stored hashes and raw thumbnails (a dataset's
    index and ``thumbnails.npy``) instead of images: only the thumbnails of candidate
    pairs are read, so a memory-mapped ``thumbnails`` stays on disk.

    Returns:
        ``[P, 2]`` sorted index pairs ``i < j``.
    """
    considered = np.arange(len(hashes)) if candidates is None else np.flatnonzero(candidates)
    pairs = considered[_hash_candidates(hashes[considered], max_hash_distance)]
    if len(pairs) == 0:
        return pairs.reshape(0, 2)
    involved, position = np.unique(pairs, return_inverse=True)
    position = position.reshape(pairs.shape)
    small, means = normalized_thumbnails(np.asarray(thumbnails[involved], dtype=np.float32))
    flat = ~small.any(axis=1)
    correlation = np.einsum("ij,ij->i", small[position[:, 0]], small[position[:, 1]])
    both_flat = flat[position[:, 0]] & flat[position[:, 1]]
    alike = np.isclose(means[position[:, 0]], means[position[:, 1]], rtol=0.01, atol=1e-6)
    correlation[both_flat] = np.where(alike[both_flat], 1.0, 0.0)
    return pairs[correlation >= min_correlation]
