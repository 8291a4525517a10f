"""Fixtures of the model server tests: SavedModel versions, registries, live servers.

Every server is a real ``visionops serve`` process on a free port, spoken to over
real HTTP (``http.client``; the project has no HTTP client dependency).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from visionops.registry.layout import version_dir, write_models_config

from .support import CLASS_NAMES, IMAGE_SHAPE, MODEL, Server


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
    """Outputs of a version's SavedModel called in this process: ``(version, images)``."""
    import tensorflow as tf

    loaded = {version: tf.saved_model.load(str(path)) for version, path in saved_versions.items()}

    def predict(version: int, images: np.ndarray) -> dict[str, np.ndarray]:
        signature = loaded[version].signatures["serving_default"]
        outputs = signature(images=tf.constant(images, tf.uint8))
        return {key: value.numpy() for key, value in outputs.items()}

    return predict


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

    def start(registry: Path, *options: str) -> Server:
        log_path = tmp_path_factory.mktemp("server") / "server.log"
        server = Server(registry, log_path, *options)
        servers.append(server)
        server.wait_until_listening()
        return server

    yield start
    for server in servers:
        status = server.stop()
        assert status == 0, f"the server exited {status} on SIGTERM:\n{server.log[-3000:]}"
