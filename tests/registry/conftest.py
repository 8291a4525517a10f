"""A registry of versions registered by ``store.register``, for label and log tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from registering import register_version

MODEL = "digits"
ACTOR = "tester@ci"


def _add_version(
    root: Path, version: int, labels: tuple[str, ...] = (), model: str = MODEL
) -> Path:
    """Registers a version of a tiny model, blessed with accuracy 0.9<version>."""
    blessing = {"blessed": True, "reason": f"v{version} accuracy 0.9{version} >= 0.90"}
    lineage = {"metrics": {"accuracy": 0.9 + version / 100}, "blessing": blessing}
    return register_version(root, model, version, lineage, labels, actor=ACTOR)


@pytest.fixture
def add_version() -> Callable[..., Path]:
    """``add_version(root, version, labels=(), model="digits")``: registers a version.

    It goes through ``store.register`` (see tests/registering.py): a SavedModel of a
    tiny model, a lineage with metrics, a blessing and the file hashes; the labels
    move in ``models.config``; a ``registered`` event by ``tester@ci`` is logged.
    """
    return _add_version


@pytest.fixture
def three_productions(tmp_path: Path) -> Path:
    """A registry where versions 1, 2 and 3 of digits were each registered as production."""
    for version in (1, 2, 3):
        _add_version(tmp_path, version, ("production",))
    return tmp_path
