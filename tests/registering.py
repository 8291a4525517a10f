"""Versions registered by the real registration code, for fixtures that need many.

:func:`register_version` registers a tiny Keras model with
:func:`visionops.registry.store.register`, so the version folder, its lineage record
with the file hashes, the data profile, ``models.config`` and the ``registered`` event
are what a deployment writes today, whatever the layout becomes. Tracing a model into
a SavedModel takes a third of a second, so the first registration in a process exports
the model for real and later ones copy that export; all the rest runs as it would.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from unittest import mock

CLASS_NAMES = tuple(str(digit) for digit in range(10))
IMAGE_SHAPE = (8, 8, 1)

_exported: dict[str, Any] = {}


def _tiny_model() -> Any:
    """A seeded softmax classifier over 8x8 grayscale images, scaling included."""
    if "model" not in _exported:
        import keras

        _exported["model"] = keras.Sequential(
            [
                keras.Input(IMAGE_SHAPE),
                keras.layers.Rescaling(1 / 255),
                keras.layers.Flatten(),
                keras.layers.Dense(
                    len(CLASS_NAMES),
                    activation="softmax",
                    kernel_initializer=keras.initializers.GlorotUniform(seed=0),
                ),
            ]
        )
    return _exported["model"]


def _export_once(model: Any, class_names: Sequence[str], image_shape: Sequence[int], path: Path):
    """Writes the SavedModel the real export wrote for the first registration."""
    if "path" not in _exported:
        folder = Path(tempfile.mkdtemp(prefix="visionops-test-export-"))
        atexit.register(shutil.rmtree, folder, True)
        _exported["export"](model, class_names, image_shape, folder / "export")
        _exported["path"] = folder / "export"
    shutil.copytree(_exported["path"], path)


def register_version(
    root: Path,
    model_name: str,
    version: int,
    lineage: dict[str, Any],
    labels: tuple[str, ...] = (),
    *,
    actor: str,
    data_profile: dict[str, Any] | None = None,
    hash_files: bool = True,
) -> Path:
    """Registers version ``version`` of ``model_name`` under ``root``; returns its folder.

    Args:
        root: The registry.
        model_name: The model's name in the registry.
        version: The version to create.
        lineage: The lineage record to write (the file hashes are added to it).
        labels: Labels to move to the new version.
        actor: Who the ``registered`` event names.
        data_profile: Written as the version's data profile when given.
        hash_files: False records no file hashes (``files`` is null), as registrations
            did before the hashes were added; the logged content digest still matches.
    """
    from visionops.registry import events, export, store

    _exported.setdefault("export", export.export_saved_model)

    registration = store.Registration(
        model_name=model_name,
        version=version,
        model=_tiny_model(),
        class_names=CLASS_NAMES,
        image_shape=IMAGE_SHAPE,
        lineage=lineage,
        labels=labels,
        data_profile=data_profile,
    )
    with contextlib.ExitStack() as patches:
        patches.enter_context(mock.patch.object(export, "export_saved_model", _export_once))
        patches.enter_context(mock.patch.object(events, "default_actor", lambda: actor))
        if not hash_files:
            patches.enter_context(mock.patch.object(store, "file_hashes", lambda *_, **__: None))
        return store.register(root, registration)


def run_models(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """Runs ``visionops models ARGV`` in this process; returns its exit status, stdout
    and stderr (``capsys`` is pytest's).

    Log records are held back, as in a ``visionops`` process of its own: a test run that
    configured Kedro's logging before would print them to the same stdout.
    """
    import pytest

    from visionops.console import main

    logging.disable(logging.INFO)
    try:
        with pytest.raises(SystemExit) as exited:
            main(["models", *argv])
    finally:
        logging.disable(logging.NOTSET)
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err
