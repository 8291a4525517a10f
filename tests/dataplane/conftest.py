"""Fixtures of the data plane tests: small image folders, and reading a dataset
version back file by file and record by record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from visionops.dataplane.images import decode_stored
from visionops.dataplane.ingest import make_job
from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.records import decode_example, read_framed
from visionops.sources import open_source


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def write_photos(root: Path, per_class: int, classes: tuple[str, ...] = ("cat", "dog")) -> Path:
    """``per_class`` distinct 24x20 JPEG and PNG files in each class folder."""
    rng = np.random.default_rng(7)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for number in range(per_class):
            pixels = rng.integers(0, 200, size=(20, 24, 3), dtype=np.uint8)
            pixels[:, label * 4 : label * 4 + 8] = 250
            suffix = ".jpg" if number % 2 else ".png"
            Image.fromarray(pixels).save(root / name / f"{number:03d}{suffix}")
    return root


def ingest_folder(
    root: Path,
    target: Path,
    image_size: list[int] | None = None,
    channels: int = 3,
    images_per_shard: int = 2048,
    **write_options: Any,
) -> ShardedDataset:
    """Ingests the image folder ``root`` into ``target`` as the ingestion stage does."""
    params = {
        "source": "image_folder",
        "path": str(root),
        "image_size": image_size,
        "channels": channels,
        "images_per_shard": images_per_shard,
    }
    make_job(open_source("image_folder", root), params).write(target, **write_options)
    return ShardedDataset(target)


def stored_pixels(dataset: ShardedDataset, source_id: str) -> np.ndarray:
    """The stored pixels of one image, read from its record (whatever its shape)."""
    row = dataset.index.set_index("source_id").loc[source_id]
    shard = dataset.shard_files()[int(row["shard"])]
    with shard.open("rb") as stream:
        record = read_framed(stream, int(row["offset"]), int(row["length"]), str(shard))
    image, _, encoding = decode_example(record)
    shape = (int(row["height"]), int(row["width"]), int(row["channels"]))
    return decode_stored(image, encoding, shape, str(row["dtype"]))


def stored_record(dataset: ShardedDataset, source_id: str) -> tuple[bytes, int, str]:
    """The image bytes, label and encoding of one image's record."""
    row = dataset.index.set_index("source_id").loc[source_id]
    shard = dataset.shard_files()[int(row["shard"])]
    with shard.open("rb") as stream:
        return decode_example(
            read_framed(stream, int(row["offset"]), int(row["length"]), str(shard))
        )


# The helpers above, as fixtures: test modules take them by name.
@pytest.fixture
def read_tree() -> Callable[[Path], dict[str, bytes]]:
    return tree_bytes


@pytest.fixture
def ingest() -> Callable[..., ShardedDataset]:
    return ingest_folder


@pytest.fixture
def pixels_of() -> Callable[[ShardedDataset, str], np.ndarray]:
    return stored_pixels


@pytest.fixture
def record_of() -> Callable[[ShardedDataset, str], tuple[bytes, int, str]]:
    return stored_record


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Two classes of 12 small JPEG and PNG files each."""
    return write_photos(tmp_path / "photos", per_class=12)
