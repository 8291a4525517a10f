"""The source hash behind the new-data trigger: what changes it and what does not."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from visionops.errors import ConfigError, SourceError
from visionops.scheduling.fingerprint import (
    digits_file,
    fingerprint_path,
    fingerprint_source,
)

from .conftest import write_images


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_images(tmp_path / "images", per_class=3, seed=1)
    return tmp_path / "images"


def test_same_files_give_the_same_hash_wherever_they_are(folder: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(folder, tmp_path / "elsewhere")
    first, second = fingerprint_path(folder), fingerprint_path(copy)
    assert first.digest == second.digest
    assert (first.files, first.bytes) == (9, sum(p.stat().st_size for p in folder.rglob("*.png")))


def test_adding_a_file_changes_the_hash(folder: Path) -> None:
    before = fingerprint_path(folder)
    write_images(folder, per_class=1, seed=2)
    after = fingerprint_path(folder)
    assert after.digest != before.digest
    assert after.files == before.files + 3


def test_editing_or_renaming_a_file_changes_the_hash(folder: Path) -> None:
    before = fingerprint_path(folder).digest
    image = next(folder.rglob("*.png"))
    image.rename(image.with_name("renamed.png"))
    renamed = fingerprint_path(folder).digest
    assert renamed != before
    data = bytearray(image.with_name("renamed.png").read_bytes())
    data[-20] ^= 0xFF  # same size, other content
    image.with_name("renamed.png").write_bytes(bytes(data))
    assert fingerprint_path(folder).digest not in (before, renamed)


def test_touching_a_file_keeps_the_hash(folder: Path) -> None:
    before = fingerprint_path(folder).digest
    next(folder.rglob("*.png")).touch()
    assert fingerprint_path(folder).digest == before


def test_npz_file_and_source_kind_are_part_of_the_hash(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, images=np.zeros((2, 4, 4), np.uint8), labels=np.array([0, 1]))
    as_npz = fingerprint_source(tmp_path, {"source": "npz", "path": "data.npz"})
    assert as_npz.files == 1
    assert as_npz.digest == fingerprint_path(path, "npz").digest
    assert as_npz.digest != fingerprint_path(path, "image_folder").digest


def test_digits_hash_the_file_scikit_learn_reads(tmp_path: Path) -> None:
    fingerprint = fingerprint_source(tmp_path, {"source": "digits", "path": "ignored"})
    assert fingerprint.location == str(digits_file())
    assert digits_file().is_file()


def test_missing_source_or_path_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        fingerprint_source(tmp_path, {"source": "image_folder", "path": "nowhere"})
    with pytest.raises(ConfigError, match="ingestion.path"):
        fingerprint_source(tmp_path, {"source": "npz", "path": None})
