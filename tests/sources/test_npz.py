"""NPZ sources, and the dispatch from ``ingestion.source`` to a reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from visionops.errors import ConfigError, SourceError
from visionops.sources import read_source
from visionops.sources.npz import read_npz


def write_npz(path: Path, **arrays: Any) -> Path:
    """Saves ``arrays`` as an NPZ file at ``path``."""
    np.savez(path, **arrays)
    return path


def grey_images(count: int = 4) -> np.ndarray:
    """``count`` uint8 [5, 6] images whose pixels hold their index."""
    return np.arange(count, dtype=np.uint8).repeat(30).reshape(count, 5, 6)


def test_nhw_images_get_a_channel_axis(tmp_path: Path) -> None:
    """[N, H, W] images become [N, H, W, 1]; labels name classes by number."""
    path = write_npz(tmp_path / "set.npz", images=grey_images(), labels=np.array([0, 2, 1, 2]))
    dataset = read_npz(path)
    assert dataset.images.shape == (4, 5, 6, 1)
    assert dataset.images.dtype == np.uint8
    assert (dataset.images[3] == 3).all()
    assert dataset.labels.tolist() == [0, 2, 1, 2]
    assert dataset.class_names == ("0", "1", "2")
    assert dataset.source_ids.tolist() == [f"set.npz:{index}" for index in range(4)]


def test_nhwc_images_and_class_names(tmp_path: Path) -> None:
    """[N, H, W, C] images are kept as they are; class_names name the labels."""
    images = np.random.default_rng(0).random((3, 4, 4, 3), dtype=np.float32)
    path = write_npz(
        tmp_path / "colour.npz",
        images=images,
        labels=np.array([1, 0, 1], dtype=np.int32),
        class_names=np.array(["cat", "dog"]),
    )
    dataset = read_npz(path)
    np.testing.assert_array_equal(dataset.images, images)
    assert dataset.images.dtype == np.float32
    assert dataset.class_names == ("cat", "dog")
    assert dataset.labels.dtype == np.int64


def test_missing_labels_names_the_array_and_the_file(tmp_path: Path) -> None:
    """An NPZ without 'labels' says which array is missing and where."""
    path = write_npz(tmp_path / "nolabels.npz", images=grey_images(), targets=np.zeros(4, int))
    with pytest.raises(SourceError, match="'labels'") as raised:
        read_npz(path)
    assert str(path) in str(raised.value)


class Exploit:
    """An object that writes a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return exec, (f"open(r'{self.marker}', 'w').write('pwned')",)


def test_object_arrays_are_refused_without_unpickling(tmp_path: Path) -> None:
    """An object array (pickled inside the NPZ) is refused and never unpickled."""
    marker = tmp_path / "marker"
    images = np.empty(2, dtype=object)
    images[:] = [Exploit(marker), Exploit(marker)]
    path = tmp_path / "pickled.npz"
    np.savez(path, images=images, labels=np.array([0, 1]), allow_pickle=True)
    with pytest.raises(SourceError, match=str(path)):
        read_npz(path)
    assert not marker.exists()


def test_file_that_is_not_an_archive(tmp_path: Path) -> None:
    """A text file with an .npz suffix is refused, naming the file."""
    path = tmp_path / "text.npz"
    path.write_text("images,labels\n1,2\n")
    with pytest.raises(SourceError, match=str(path)):
        read_npz(path)


def test_single_npy_array_instead_of_npz(tmp_path: Path) -> None:
    """A lone .npy array (not an archive of named arrays) is a source error."""
    path = tmp_path / "images.npy"
    np.save(path, grey_images())
    with pytest.raises(SourceError, match=str(path)):
        read_npz(path)


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist is named in the error."""
    path = tmp_path / "absent.npz"
    with pytest.raises(SourceError, match=str(path)):
        read_npz(path)


def test_float_labels_are_refused(tmp_path: Path) -> None:
    """Labels must be integers; float labels are named as the problem."""
    path = write_npz(tmp_path / "float.npz", images=grey_images(2), labels=np.array([0.0, 1.0]))
    with pytest.raises(SourceError, match="'labels'") as raised:
        read_npz(path)
    assert "float64" in str(raised.value)


def test_images_of_wrong_rank_are_refused(tmp_path: Path) -> None:
    """Images that are neither [N, H, W] nor [N, H, W, C] are refused."""
    path = write_npz(tmp_path / "flat.npz", images=np.zeros((2, 30), np.uint8), labels=[0, 1])
    with pytest.raises(SourceError, match="'images'"):
        read_npz(path)


def test_read_source_reads_npz(tmp_path: Path) -> None:
    """read_source dispatches 'npz' to the NPZ reader with a string path."""
    path = write_npz(tmp_path / "set.npz", images=grey_images(), labels=np.array([0, 1, 0, 1]))
    assert len(read_source("npz", str(path), {})) == 4


def test_unknown_source_is_a_config_error(tmp_path: Path) -> None:
    """An unknown source name lists the sources to choose from."""
    with pytest.raises(ConfigError, match="image_folder"):
        read_source("mnist", str(tmp_path), {})


@pytest.mark.parametrize("path", [None, ""])
def test_npz_without_path_is_a_config_error(path: str | None) -> None:
    """The npz source needs a path; its absence is a configuration error."""
    with pytest.raises(ConfigError, match="ingestion.path"):
        read_source("npz", path, {})
