"""``visionops validate``: the gate on any source, and suites inferred from trusted data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from visionops.console import main
from visionops.sources.digits import read_digits

ROOT = Path(__file__).parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder holding a copy of the real conf/ and params.yaml, no registry."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    for pinned in (tmp_path / "conf" / "base" / "reference").glob("*.json"):
        pinned.unlink()
    return tmp_path


def _npz(path: Path, brightness: int = 0) -> Path:
    digits = read_digits()
    images = np.clip(digits.images.astype(int) + brightness, 0, 255).astype(np.uint8)
    np.savez(path, images=images, labels=digits.labels, class_names=np.asarray(digits.class_names))
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


def test_validate_passes_the_default_digits(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = _run(capsys, "validate", "--project-dir", str(project))
    assert code == 0
    assert "digits: 1797 images passed 16 expectations" in output
    assert "no production model and no pinned reference" in output


def test_validate_fails_bad_data_with_the_one_screen_message(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digits = read_digits()
    labels = digits.labels.copy()
    labels[7] = 12
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=digits.images, labels=labels, class_names=np.asarray(digits.class_names))
    code, output = _run(
        capsys, "validate", "--project-dir", str(project), "--source", "npz", "--path", str(bad)
    )
    assert code == 1
    assert "data validation failed on npz" in output
    assert "expect_column_values_to_be_in_set(label)" in output
    assert "npz:7: 12" in output


def test_init_suite_infers_reviewable_suites_and_pins_the_reference(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trusted = _npz(tmp_path / "trusted.npz")
    args = ("validate", "--project-dir", str(project), "--source", "npz", "--path", str(trusted))
    code, output = _run(capsys, *args, "--init-suite")
    assert code == 1, "the shipped suites differ, so replacing them needs --force"
    assert "--force" in output
    code, output = _run(capsys, *args, "--init-suite", "--force")
    assert code == 0
    images = json.loads((project / "conf/base/expectations/images.json").read_text())
    shape = next(e for e in images["expectations"] if e["kwargs"].get("column") == "shape")
    assert shape["kwargs"]["value_set"] == ["8x8x1"]
    assert shape["meta"]["observed"] == "shapes ['8x8x1']"
    assert (project / "conf/base/reference/classifier.json").is_file()

    code, output = _run(capsys, *args)
    assert code == 0, output
    assert "drift checked against file:" in output

    shifted = _npz(tmp_path / "shifted.npz", brightness=60)
    code, output = _run(
        capsys, "validate", "--project-dir", str(project), "--source", "npz", "--path", str(shifted)
    )
    assert code == 1
    assert "drift intensity[channel 0]" in output
