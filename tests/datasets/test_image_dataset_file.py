"""ImageDatasetFile: an ImageDataset stored as one NPZ file."""

from __future__ import annotations

from pathlib import Path

# Kedro replaces every logging handler when kedro.framework.project is first imported;
# importing it before TensorFlow keeps it from closing absl's handler, whose stream is
# pytest's capture file, which would crash pytest at exit.
import kedro.framework.project  # noqa: F401
import numpy as np
import pytest

from visionops.datasets.image_dataset_file import ImageDatasetFile
from visionops.image_dataset import NPZ_KEYS, ImageDataset


def make_dataset(dtype: type[np.generic] = np.uint8) -> ImageDataset:
    """A five-image RGB dataset with two classes and path-like source ids."""
    rng = np.random.default_rng(7)
    images = (rng.random((5, 4, 3, 3)) * 255).astype(dtype)
    return ImageDataset(
        images=images,
        labels=np.array([0, 1, 1, 0, 1], dtype=np.int64),
        class_names=("cat", "chien"),
        source_ids=np.array([f"cat/{index}.png" for index in range(5)]),
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_round_trip_keeps_every_field(tmp_path: Path, dtype: type[np.generic]) -> None:
    """What is saved loads back identical, image dtype included."""
    original = make_dataset(dtype)
    store = ImageDatasetFile(str(tmp_path / "data" / "raw.npz"))
    store.save(original)
    loaded = store.load()
    assert loaded.images.dtype == dtype
    np.testing.assert_array_equal(loaded.images, original.images)
    np.testing.assert_array_equal(loaded.labels, original.labels)
    assert loaded.labels.dtype == np.int64
    assert loaded.class_names == ("cat", "chien")
    assert loaded.source_ids.tolist() == original.source_ids.tolist()
    assert loaded.image_shape == (4, 3, 3)


def test_save_replaces_the_previous_file(tmp_path: Path) -> None:
    """Saving again overwrites the stored dataset rather than appending or failing."""
    store = ImageDatasetFile(str(tmp_path / "raw.npz"))
    store.save(make_dataset())
    store.save(make_dataset().subset(np.array([4, 0])))
    loaded = store.load()
    assert len(loaded) == 2
    assert loaded.source_ids.tolist() == ["cat/4.png", "cat/0.png"]


def test_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    """After saving only the target file is in its folder."""
    store = ImageDatasetFile(str(tmp_path / "raw.npz"))
    store.save(make_dataset())
    store.save(make_dataset())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.npz"]
    assert store.exists()


def test_file_is_plain_npz_without_pickles(tmp_path: Path) -> None:
    """The file opens with np.load(allow_pickle=False) and holds the documented keys."""
    path = tmp_path / "raw.npz"
    ImageDatasetFile(str(path)).save(make_dataset())
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(NPZ_KEYS)
        arrays = {key: archive[key] for key in NPZ_KEYS}
    assert arrays["class_names"].tolist() == ["cat", "chien"]
    assert arrays["images"].shape == (5, 4, 3, 3)


def test_exists_is_false_before_saving(tmp_path: Path) -> None:
    """A dataset that was never saved does not claim to exist."""
    assert not ImageDatasetFile(str(tmp_path / "raw.npz")).exists()
