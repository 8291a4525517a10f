"""Synthetic registries for the lineage tests (see synthetic.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionops.registry.labels import promote

from .synthetic import add_version, record

MODEL = "digits"


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    """digits:1 was production, then digits:2 (forced, promoted by alice) replaced it."""
    root = tmp_path / "registry"
    add_version(root, MODEL, 1, record("one"), labels=("production",))
    forced = {"by": "bob@laptop", "at": "2026-03-03T09:00:00+00:00", "reason": "hotfix"}
    second = record(
        "two",
        blessing={
            "blessed": True,
            "reason": "blessed by force (bob@laptop: hotfix)",
            "forced": forced,
        },
    )
    add_version(root, MODEL, 2, second)
    promote(root, MODEL, 2, reason="beats v1 on the March data", actor="alice@desk")
    return root
