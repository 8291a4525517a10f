"""Registering model versions, and the registry as a Kedro dataset."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

# Kedro replaces every logging handler when kedro.framework.project is first imported;
# importing it before TensorFlow keeps it from closing absl's handler, whose stream is
# pytest's capture file, which would crash pytest at exit.
import kedro.framework.project  # noqa: F401
import keras
import numpy as np
import pytest
import tensorflow as tf

from visionops.datasets.model_registry import ModelRegistryDataset
from visionops.errors import RegistryError
from visionops.registry.events import read_events, verify_chain
from visionops.registry.layout import MODELS_CONFIG, content_digest, read_labels, snapshot
from visionops.registry.signature_names import UINT8_INPUT, UINT8_SIGNATURE
from visionops.registry.store import Declined, Registration, register

CLASS_NAMES = ("circle", "square", "triangle")
IMAGE_SHAPE = (4, 4, 1)
LINEAGE = {"run_id": "abc123", "accuracy": 0.91}


@dataclass(frozen=True)
class Registered:
    """A registry holding one registered version, and what produced it."""

    root: Path
    version_path: Path
    model: keras.Model


def tiny_model() -> keras.Model:
    """A seeded softmax classifier over 4x4 grayscale images, scaling included."""
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def registration(model: keras.Model, version: int, labels: tuple[str, ...]) -> Registration:
    """A registration of ``model`` as ``digits`` version ``version``."""
    return Registration(
        model_name="digits",
        version=version,
        model=model,
        class_names=CLASS_NAMES,
        image_shape=IMAGE_SHAPE,
        lineage=LINEAGE,
        labels=labels,
    )


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """A registry where version 1 of a tiny model was registered as production."""
    root = tmp_path_factory.mktemp("registry")
    model = tiny_model()
    version_path = register(root, registration(model, 1, ("production",)))
    return Registered(root=root, version_path=version_path, model=model)


def tree(root: Path) -> list[str]:
    """Every path under ``root``, relative and sorted."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_version_folder_is_a_saved_model_with_lineage(registered: Registered) -> None:
    """The new version sits at <root>/<model>/<version> with its lineage beside it."""
    assert registered.version_path == registered.root / "digits" / "1"
    assert (registered.version_path / "saved_model.pb").is_file()
    lineage = json.loads((registered.version_path / "assets.extra" / "lineage.json").read_text())
    files = lineage.pop("files")
    assert lineage == LINEAGE
    # sha256 of every other file of the version, for `visionops lineage verify`.
    assert set(files) >= {"saved_model.pb", "variables/variables.index"}
    assert "assets.extra/lineage.json" not in files


def test_production_label_points_at_the_new_version(registered: Registered) -> None:
    """models.config labels the registered version as production."""
    assert read_labels(registered.root) == {"digits": {"production": 1}}
    assert snapshot(registered.root)["digits"]["versions"] == [1]


def test_no_staging_folder_remains(registered: Registered) -> None:
    """The temporary export folder is renamed away, not left behind."""
    assert not list(registered.root.rglob(".staging-*"))


def test_serving_signature_matches_keras_predictions(registered: Registered) -> None:
    """The SavedModel takes raw uint8 images and gives the Keras model's probabilities."""
    images = np.random.default_rng(3).integers(0, 256, (5, *IMAGE_SHAPE), dtype=np.uint8)
    loaded = tf.saved_model.load(str(registered.version_path))
    outputs = loaded.signatures[UINT8_SIGNATURE](**{UINT8_INPUT: tf.constant(images)})
    expected = registered.model.predict(images.astype(np.float32), verbose=0)
    probabilities = outputs["probabilities"].numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    class_ids = outputs["class_ids"].numpy()
    np.testing.assert_array_equal(class_ids, expected.argmax(axis=-1))
    names = outputs["class_names"].numpy().tolist()
    assert names == [CLASS_NAMES[index].encode() for index in class_ids]


def test_registering_an_existing_version_changes_nothing(registered: Registered) -> None:
    """A second registration of version 1 is refused and the registry is left as it was."""
    before = tree(registered.root)
    config = (registered.root / MODELS_CONFIG).read_text()
    with pytest.raises(RegistryError, match="version 1 of 'digits' already exists"):
        register(registered.root, registration(tiny_model(), 1, ("candidate",)))
    assert tree(registered.root) == before
    assert (registered.root / MODELS_CONFIG).read_text() == config


def test_labels_move_to_a_newer_version(tmp_path: Path) -> None:
    """A candidate version keeps production where it was; promotion then moves it."""
    model = tiny_model()
    register(tmp_path, registration(model, 1, ("production",)))
    register(tmp_path, registration(model, 2, ("candidate",)))
    assert read_labels(tmp_path) == {"digits": {"production": 1, "candidate": 2}}
    register(tmp_path, registration(model, 3, ("production", "candidate")))
    assert snapshot(tmp_path) == {
        "digits": {"versions": [1, 2, 3], "labels": {"production": 3, "candidate": 3}}
    }
    assert not list(tmp_path.rglob(".staging-*"))


def test_dataset_load_of_empty_registry(tmp_path: Path) -> None:
    """An empty (or not yet created) registry loads as an empty snapshot."""
    assert ModelRegistryDataset(str(tmp_path)).load() == {}
    assert ModelRegistryDataset(str(tmp_path / "absent")).load() == {}


def test_dataset_save_declined_registers_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Saving a Declined decision leaves the registry empty and says why in the log."""
    dataset = ModelRegistryDataset(str(tmp_path))
    dataset.save(Declined(reason="accuracy 0.42 is below the 0.90 threshold"))
    assert list(tmp_path.iterdir()) == []
    assert dataset.load() == {}
    assert "Registered nothing" in caplog.text
    assert "accuracy 0.42 is below the 0.90 threshold" in caplog.text


def test_dataset_save_registration_shows_in_load(tmp_path: Path) -> None:
    """Saving a Registration through the dataset makes it visible to the next load."""
    dataset = ModelRegistryDataset(str(tmp_path / "registry"))
    dataset.save(registration(tiny_model(), 4, ("production",)))
    weights = registration(tiny_model(), 4, ()).lineage.get("training", {}).get("weights_sha256")
    assert dataset.load() == {
        "digits": {"versions": [4], "labels": {"production": 4}, "weights": {4: weights}}
    }


def test_registration_is_logged_with_labels_blessing_and_digest(tmp_path: Path) -> None:
    """Each registration appends a chained event an auditor can check the files against."""
    model = tiny_model()
    register(tmp_path, registration(model, 1, ("production",)))
    blessing = {"blessed": True, "reason": "accuracy 0.93 >= 0.90 and not worse than v1"}
    blessed = replace(
        registration(model, 2, ("production", "candidate")), lineage={"blessing": blessing}
    )
    path = register(tmp_path, blessed)
    first, second = read_events(tmp_path, "digits")
    assert (first["event"], first["version"], first["reason"]) == ("registered", 1, "")
    assert second["event"] == "registered"
    assert second["version"] == 2
    assert second["labels"] == {"production": 2, "candidate": 2}
    assert second["reason"] == blessing["reason"]
    assert second["details"]["labels_moved"] == {
        "production": {"from": 1, "to": 2},
        "candidate": {"from": None, "to": 2},
    }
    assert second["details"]["content_sha256"] == content_digest(path)
    assert verify_chain(tmp_path, "digits") == []


def test_registration_removes_only_stale_staging_folders(tmp_path: Path) -> None:
    """Leftovers of a registration that died over an hour ago go; a running one's stay."""
    stale = tmp_path / "digits" / ".staging-dead"
    fresh = tmp_path / "digits" / ".staging-running"
    stale_config = tmp_path / ".models.config.abc123"
    for folder in (stale, fresh):
        (folder / "variables").mkdir(parents=True)
    stale_config.write_text("half a config")
    two_hours_ago = time.time() - 7200
    for path in (stale, stale_config):
        os.utime(path, (two_hours_ago, two_hours_ago))
    register(tmp_path, registration(tiny_model(), 1, ("production",)))
    assert not stale.exists()
    assert not stale_config.exists()
    assert fresh.is_dir()
    assert snapshot(tmp_path)["digits"]["versions"] == [1]


def test_registration_refuses_an_unreadable_log_before_writing(tmp_path: Path) -> None:
    """A damaged audit log stops the registration before any version is written."""
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "events.jsonl").write_text("not an event\n")
    with pytest.raises(RegistryError, match=r"line 1 of .*events\.jsonl is not an event"):
        register(tmp_path, registration(tiny_model(), 1, ("production",)))
    assert snapshot(tmp_path) == {}
    assert not list(tmp_path.rglob(".staging-*"))
