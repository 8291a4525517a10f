"""The README's "Train on your own images", command by command, on a fresh copy with the
digits model in production."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visionops.registry.layout import MODELS_CONFIG, list_versions, read_labels

from .conftest import ROOT, reproduced_copy, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FOLDER = "data/01_raw/pets"
SOURCE_FLAGS = ("-S", "ingestion.source=image_folder", "-S", f"ingestion.path={FOLDER}")


def write_pets(root: Path, per_class: int = 40) -> None:
    """3 classes x ``per_class`` PNGs of 40x40 RGB: class k is bright in band k."""
    rng = np.random.default_rng(7)
    for label, name in enumerate(("cat", "dog", "fox")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            image = rng.uniform(0, 80, size=(40, 40, 3))
            image[label * 13 : (label + 1) * 13] += 150
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
                root / name / f"{index:03d}.png"
            )


def readme_commands() -> list[str]:
    """The commands of the README section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Train on your own images", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```bash")[1:]
    lines = [
        line.split("#", 1)[0].strip()
        for block in blocks
        for line in block.split("```")[0].splitlines()
    ]
    # `source .venv/bin/activate` puts .venv/bin on PATH, as the tests' environment does.
    return [line for line in lines if line and not line.startswith("source ")]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy after `dvc repro` (what `make run` runs): digits in production."""
    project = reproduced_copy(tmp_path_factory, "own")
    write_pets(project / FOLDER)
    return project


def test_the_readme_shows_the_route_this_test_follows() -> None:
    commands = readme_commands()
    assert f"dvc exp run {' '.join(SOURCE_FLAGS)} -S model_name=pets" in commands
    assert "visionops models list" in commands


def test_without_a_model_name_it_stops_with_one_line_and_the_command(project: Path) -> None:
    before = (project / "registry" / MODELS_CONFIG).read_text()
    result = run(project, "dvc", "exp", "run", *SOURCE_FLAGS, check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "visionops: error:" in line]
    assert len(errors) == 1, result.stderr[-2000:]
    assert "a different task from 'classifier' (production version 1)" in errors[0]
    assert "classes [cat, dog, fox], not [0, 1, 2" in errors[0]
    assert f"dvc exp run {' '.join(SOURCE_FLAGS)} -S model_name=NAME" in errors[0]
    assert "--from-nodes" not in result.stdout + result.stderr
    assert (project / "registry" / MODELS_CONFIG).read_text() == before


def test_the_readme_route_registers_a_new_model_beside_the_digits(project: Path) -> None:
    for command in readme_commands():
        run(project, *command.split())
    assert list_versions(project / "registry", "pets") == [1]
    assert read_labels(project / "registry") == {
        "classifier": {"production": 1},
        "pets": {"production": 1},
    }
    lineage = json.loads((project / "registry/pets/1/assets.extra/lineage.json").read_text())
    assert lineage["class_names"] == ["cat", "dog", "fox"]
    assert lineage["parameters"]["model_name"] == "pets"
    listed = run(project, "visionops", "models", "list").stdout
    assert "pets:1  [production]" in listed and "classifier:1  [production]" in listed
