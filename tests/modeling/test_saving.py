"""save_model_deterministic: one model, one set of .keras bytes, which Keras reads."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from visionops.modeling import saving
from visionops.modeling.architectures import build_model
from visionops.modeling.saving import load_model, save_model_deterministic

IMAGE_SHAPE = (8, 8, 1)
# A zip entry's time has a 2-second resolution, so saves further apart than that differ.
LONGER_THAN_ZIP_TIME_STEP_S = 2.1


def trained_model(seed: int = 0) -> keras.Model:
    """A small compiled classifier after one training step, optimizer state included."""
    keras.utils.set_random_seed(seed)
    model = build_model("simple_cnn", IMAGE_SHAPE, num_classes=3, width=4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(16, *IMAGE_SHAPE)).astype(np.float32)
    model.fit(images, rng.integers(0, 3, size=16), epochs=1, batch_size=16, verbose=0)
    return model


def sample_images() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, size=(5, *IMAGE_SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return trained_model()


@pytest.fixture(scope="module")
def saved_twice(model: keras.Model, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The model saved by Keras and by save_model_deterministic, then both again later."""
    folder = tmp_path_factory.mktemp("saved")
    paths = []
    for attempt in ("first", "second"):
        keras.saving.save_model(model, folder / f"keras-{attempt}.keras")
        save_model_deterministic(model, folder / f"{attempt}.keras")
        paths += [folder / f"keras-{attempt}.keras", folder / f"{attempt}.keras"]
        if attempt == "first":
            time.sleep(LONGER_THAN_ZIP_TIME_STEP_S)
    return paths


def test_saving_the_same_model_later_writes_the_same_bytes(saved_twice: list[Path]) -> None:
    keras_first, first, keras_second, second = saved_twice
    assert keras_first.read_bytes() != keras_second.read_bytes(), "Keras alone records the time"
    assert first.read_bytes() == second.read_bytes()


def test_the_loaded_model_predicts_exactly_as_the_original(
    model: keras.Model, saved_twice: list[Path]
) -> None:
    loaded = load_model(saved_twice[1])
    images = sample_images()
    np.testing.assert_array_equal(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0)
    )


def test_the_optimizer_state_is_kept(model: keras.Model, saved_twice: list[Path]) -> None:
    loaded = load_model(saved_twice[1])
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 1
    for kept, original in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(kept), np.asarray(original))


def test_keras_reads_the_file_as_its_own(model: keras.Model, saved_twice: list[Path]) -> None:
    path = saved_twice[1]
    assert zipfile.is_zipfile(path)
    loaded = keras.saving.load_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        metadata = json.loads(archive.read("metadata.json"))
        entries = archive.infolist()
    assert names == sorted(names)
    assert {"config.json", "metadata.json", "model.weights.h5"} <= set(names)
    assert metadata == {"keras_version": keras.__version__}
    assert {entry.date_time for entry in entries} == {saving.ZIP_DATE_TIME}
    assert {entry.external_attr >> 16 & 0o777 for entry in entries} == {saving.FILE_MODE}


def test_different_weights_give_different_bytes(saved_twice: list[Path], tmp_path: Path) -> None:
    save_model_deterministic(trained_model(seed=1), tmp_path / "other.keras")
    assert (tmp_path / "other.keras").read_bytes() != saved_twice[1].read_bytes()


def keras_like_archive(addresses: tuple[int, int, int], saved_at: str) -> bytes:
    """A .keras-shaped zip whose config marks shared objects with memory addresses."""
    first, second, third = addresses
    layers = [
        {"name": "a", "dtype": {"class_name": "DTypePolicy", "shared_object_id": first}},
        {"name": "b", "dtype": {"class_name": "DTypePolicy", "shared_object_id": second}},
        {"name": "c", "dtype": {"class_name": "DTypePolicy", "shared_object_id": first}},
        {"name": "d", "initializer": {"seed": None, "shared_object_id": third}},
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.weights.h5", b"weights")
        archive.writestr(
            "metadata.json", json.dumps({"keras_version": "3", "date_saved": saved_at})
        )
        archive.writestr("config.json", json.dumps({"config": {"layers": layers}}))
    return buffer.getvalue()


def test_shared_objects_are_numbered_in_order_whatever_their_addresses() -> None:
    first = saving.normalize_keras_archive(keras_like_archive((140001, 140002, 140003), "t1"))
    again = saving.normalize_keras_archive(keras_like_archive((9007, 9005, 9001), "t2"))
    assert first == again
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        layers = json.loads(archive.read("config.json"))["config"]["layers"]
        weights = archive.read("model.weights.h5")
    ids = [layer.get("dtype", layer.get("initializer"))["shared_object_id"] for layer in layers]
    assert ids == [1, 2, 1, 3]
    assert weights == b"weights"


def test_normalizing_a_normalized_archive_changes_nothing(saved_twice: list[Path]) -> None:
    archive = saved_twice[1].read_bytes()
    assert saving.normalize_keras_archive(archive) == archive


def test_a_failed_save_leaves_the_previous_file(
    model: keras.Model, saved_twice: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model.keras"
    target.write_bytes(saved_twice[1].read_bytes())

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(keras.saving, "save_model", fail)
    with pytest.raises(OSError, match="disk full"):
        save_model_deterministic(model, target)
    assert target.read_bytes() == saved_twice[1].read_bytes()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.keras"]


def test_rejects_a_path_that_is_not_a_keras_file(model: keras.Model, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"model\.h5: the file name must end in \.keras"):
        save_model_deterministic(model, tmp_path / "model.h5")
    assert not list(tmp_path.iterdir())
