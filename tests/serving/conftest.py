"""Fixtures of the model server tests: SavedModel versions, registries, live servers.

Every server is a real ``visionops serve`` process on a free port, spoken to over
real HTTP (``http.client``; the project has no HTTP client dependency).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from visionops.registry.layout import version_dir, write_models_config
from visionops.registry.signature_names import UINT8_SIGNATURE

from .support import CLASS_NAMES, IMAGE_SHAPE, MODEL, Server


@dataclass(frozen=True)
class TrainedDigits:
    """A version trained on digits, and digits it did not see: uint8 images and labels."""

    path: Path
    images: np.ndarray
    labels: np.ndarray


@pytest.fixture(scope="session")
def saved_versions(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Three SavedModels of a tiny digits-shaped simple_cnn, each with its own weights."""
    import keras

    from visionops.modeling.architectures import build_model
    from visionops.registry.export import export_saved_model

    folder = tmp_path_factory.mktemp("saved_versions")
    paths = {}
    for version in (1, 2, 3):
        keras.utils.set_random_seed(version)
        model = build_model("simple_cnn", IMAGE_SHAPE, len(CLASS_NAMES), width=4)
        paths[version] = folder / str(version)
        export_saved_model(model, CLASS_NAMES, IMAGE_SHAPE, paths[version])
    return paths


@pytest.fixture(scope="session")
def reference(saved_versions: dict[int, Path]) -> Callable[[int, np.ndarray], dict]:
    """Outputs of a version's SavedModel called in this process on uint8 images:
    ``(version, images)``."""
    import tensorflow as tf

    loaded = {version: tf.saved_model.load(str(path)) for version, path in saved_versions.items()}

    def predict(version: int, images: np.ndarray) -> dict[str, np.ndarray]:
        signature = loaded[version].signatures[UINT8_SIGNATURE]
        outputs = signature(images=tf.constant(images, tf.uint8))
        return {key: value.numpy() for key, value in outputs.items()}

    return predict


@pytest.fixture(scope="session")
def legacy_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 1's weights in the layout exported before: uint8 ``serving_default``."""
    import keras

    from legacy_export import export_legacy_saved_model
    from visionops.modeling.architectures import build_model

    keras.utils.set_random_seed(1)
    model = build_model("simple_cnn", IMAGE_SHAPE, len(CLASS_NAMES), width=4)
    path = tmp_path_factory.mktemp("legacy_version") / "1"
    export_legacy_saved_model(model, CLASS_NAMES, IMAGE_SHAPE, path)
    return path


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory: pytest.TempPathFactory) -> TrainedDigits:
    """A simple_cnn trained on scikit-learn's digits (about 6 s), exported as a version;
    100 digits held out of its training."""
    import keras

    from visionops.modeling.architectures import build_model
    from visionops.registry.export import export_saved_model
    from visionops.sources.digits import read_digits

    digits = read_digits()
    order = np.random.default_rng(0).permutation(len(digits))
    train, held_out = order[:-100], order[-100:]
    keras.utils.set_random_seed(0)
    model = build_model("simple_cnn", digits.image_shape, len(digits.class_names), width=8)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    images = digits.images[train].astype(np.float32)
    model.fit(images, digits.labels[train], epochs=10, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("trained_digits") / "1"
    export_saved_model(model, digits.class_names, digits.image_shape, path)
    return TrainedDigits(path, digits.images[held_out], digits.labels[held_out])


@pytest.fixture(scope="module")
def make_registry(
    tmp_path_factory: pytest.TempPathFactory, saved_versions: dict[int, Path]
) -> Callable[..., Path]:
    """Builds a registry with some of the saved versions and the given labels."""

    def build(versions: tuple[int, ...], labels: dict[str, int]) -> Path:
        root = tmp_path_factory.mktemp("registry")
        for version in versions:
            shutil.copytree(saved_versions[version], version_dir(root, MODEL, version))
        write_models_config(root, {MODEL: labels})
        return root

    return build


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Starts servers that answer /healthz; stops them, checking a clean exit on SIGTERM."""
    servers: list[Server] = []

    def start(registry: Path, *options: str, env: dict[str, str] | None = None) -> Server:
        log_path = tmp_path_factory.mktemp("server") / "server.log"
        server = Server(registry, log_path, *options, env=env)
        servers.append(server)
        server.wait_until_listening()
        return server

    yield start
    for server in servers:
        status = server.stop()
        assert status == 0, f"the server exited {status} on SIGTERM:\n{server.log[-3000:]}"
