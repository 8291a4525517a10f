"""A registry of stand-in versions, built without TensorFlow, for label and log tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from visionops.registry.events import record_version
from visionops.registry.layout import (
    LINEAGE_FILE,
    SAVED_MODEL_FILE,
    content_digest,
    version_dir,
)

MODEL = "digits"
ACTOR = "tester@ci"


def _add_version(
    root: Path, version: int, labels: tuple[str, ...] = (), model: str = MODEL
) -> Path:
    """Registers a stand-in version as ``store.register`` does, minus the export."""
    path = version_dir(root, model, version)
    (path / "variables").mkdir(parents=True)
    (path / SAVED_MODEL_FILE).write_bytes(b"stand-in for a SavedModel")
    (path / LINEAGE_FILE).parent.mkdir()
    blessing = {"blessed": True, "reason": f"v{version} accuracy 0.9{version} >= 0.90"}
    lineage = {"metrics": {"accuracy": 0.9 + version / 100}, "blessing": blessing}
    (path / LINEAGE_FILE).write_text(json.dumps(lineage))
    record_version(
        root, model, version, labels, blessing["reason"], content_digest(path), actor=ACTOR
    )
    return path


@pytest.fixture
def add_version() -> Callable[..., Path]:
    """``add_version(root, version, labels=(), model="digits")``: registers a stand-in.

    The folder holds a placeholder ``saved_model.pb``, a ``variables/`` folder and a
    lineage with metrics and a blessing; the labels move in ``models.config``; a
    ``registered`` event by ``tester@ci`` is logged with the details a real
    registration logs.
    """
    return _add_version


@pytest.fixture
def three_productions(tmp_path: Path) -> Path:
    """A registry where versions 1, 2 and 3 of digits were each registered as production."""
    for version in (1, 2, 3):
        _add_version(tmp_path, version, ("production",))
    return tmp_path
