"""Helpers for the scheduling tests: image folders, small projects, the run log."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from visionops.scheduling.runlog import read_log

ROOT = Path(__file__).parents[2]
SIDE = 12


def write_images(root: Path, per_class: int, seed: int, classes: int = 3) -> list[Path]:
    """Writes ``per_class`` distinct PNGs per class (class k lights up band k) under
    ``root/<class>/``, named by the seed so later batches add files, never replace them."""
    rng = np.random.default_rng(seed)
    written = []
    band = SIDE // classes
    for label in range(classes):
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            image = rng.uniform(0, 80, size=(SIDE, SIDE, 3))
            image[label * band : (label + 1) * band] += 150
            path = folder / f"s{seed}_{index:03d}.png"
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
            written.append(path)
    return written


def write_scheduling_settings(project: Path, **values: Any) -> None:
    """Rewrites the project's conf/base/scheduling.yml with ``values`` changed."""
    path = project / "conf" / "base" / "scheduling.yml"
    settings = yaml.safe_load(path.read_text())
    settings.update(values)
    path.write_text(yaml.safe_dump(settings, sort_keys=False))


def records(log: Path, pid: int | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    """The run log's records, of one process and one kind when given."""
    return [
        entry
        for entry in read_log(log)
        if (pid is None or entry["pid"] == pid) and (kind is None or entry["kind"] == kind)
    ]


@pytest.fixture
def conf_project(tmp_path: Path) -> Path:
    """A project folder with the real conf/ and params.yaml (no code, no data, no
    registry): enough for the settings and the checks, which read conf/, params.yaml,
    the source and the registry."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "conf" / "base", project / "conf" / "base")
    (project / "conf" / "local").mkdir()
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    return project
