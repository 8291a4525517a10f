"""Bad sources: one clear line naming problem and path, non-zero exit, nothing changed."""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from .conftest import run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _missing(root: Path) -> tuple[str, Path, Path]:
    return "image_folder", root / "no-such-folder", root / "no-such-folder"


def _empty_folder(root: Path) -> tuple[str, Path, Path]:
    (root / "empty").mkdir()
    return "image_folder", root / "empty", root / "empty"


def _class_without_images(root: Path) -> tuple[str, Path, Path]:
    folder = root / "images"
    (folder / "cat").mkdir(parents=True)
    (folder / "dog").mkdir()
    Image.new("RGB", (8, 8)).save(folder / "cat" / "a.png")
    return "image_folder", folder, folder / "dog"


def _unreadable_image(root: Path) -> tuple[str, Path, Path]:
    folder = root / "images"
    (folder / "cat").mkdir(parents=True)
    Image.new("RGB", (16, 16), "red").save(folder / "cat" / "ok.png")
    Image.new("RGB", (16, 16), "blue").save(folder / "cat" / "broken.png")
    data = (folder / "cat" / "broken.png").read_bytes()
    (folder / "cat" / "broken.png").write_bytes(data[: len(data) // 2])
    return "image_folder", folder, folder / "cat" / "broken.png"


def _npz_without_labels(root: Path) -> tuple[str, Path, Path]:
    path = root / "data.npz"
    np.savez(path, images=np.zeros((4, 8, 8), dtype=np.uint8))
    return "npz", path, path


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _malicious_cifar(root: Path) -> tuple[str, Path, Path]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": _RunsCode(root / "marker")}))
    meta = {b"label_names": [f"class{i}".encode() for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return "cifar10", folder, folder / "data_batch_1"


# Each maker returns (source kind, ingestion.path, the path the error must name).
CASES: dict[str, tuple[Callable[[Path], tuple[str, Path, Path]], str]] = {
    "missing path": (_missing, "does not exist"),
    "empty folder": (_empty_folder, "has no class folders"),
    "class folder with no images": (_class_without_images, "holds no image"),
    "npz without labels": (_npz_without_labels, "has no array 'labels'"),
    "pickle that runs code": (_malicious_cifar, "refusing to load global builtins.exec"),
}


VALIDATED = "data/03_primary/validated.json"
INGEST_CACHE = "data/02_intermediate/ingest_cache.sqlite"
# The OpenLineage events that every run sends, a failed one too: records, not outputs.
OPENLINEAGE_EVENTS = "data/08_reporting/openlineage/"


def _state(project: Path, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """Hashes of every file of the registry and under data/ (each stage's outputs and the
    reports in data/08_reporting) and of dvc.lock, but those in ``skip`` (paths relative
    to the project, a folder standing for everything in it), to prove nothing changed.
    Ingestion's cache is left out: it keeps work done per file, not an output; and so
    are the OpenLineage events."""
    files = [*(project / "registry").rglob("*"), *(project / "data").rglob("*")]
    hashes = {}
    for path in sorted([*files, project / "dvc.lock"]):
        relative = path.relative_to(project).as_posix()
        skipped = any(relative == out or relative.startswith(f"{out}/") for out in skip)
        skipped = skipped or relative.startswith((INGEST_CACHE, OPENLINEAGE_EVENTS))
        if path.is_file() and not skipped:
            hashes[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def _written(project: Path, stage: str) -> frozenset[str]:
    """The outputs, metrics and plots that dvc.yaml declares for ``stage``."""
    declared = yaml.safe_load((project / "dvc.yaml").read_text())["stages"][stage]
    kinds = ("outs", "metrics", "plots")
    return frozenset(
        out if isinstance(out, str) else next(iter(out))
        for kind in kinds
        for out in declared.get(kind, [])
    )


def test_unreadable_image_stops_at_validation_naming_the_file(
    reproduced: Path, tmp_path: Path
) -> None:
    """Ingestion keeps the broken file as an unreadable row; the validation gate names it,
    and no stage after it runs. Ingestion's outputs are new, and so are the validation
    reports that say what failed; everything else stays as it was: the validated dataset,
    the splits, the model, every later report, dvc.lock and the registry."""
    _, path, broken = _unreadable_image(tmp_path)
    reports = _written(reproduced, "data_validation") - {VALIDATED}
    expected_changes = _written(reproduced, "ingestion") | reports
    before = _state(reproduced, skip=expected_changes)
    result = run(
        reproduced,
        "kedro",
        "run",
        "--params",
        f"ingestion.source=image_folder,ingestion.path={path}",
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("visionops: error: "))
    message = "\n".join(lines[start:])
    assert "data validation failed" in message
    assert "expect_column_values_to_be_in_set(readable)" in message
    assert f"{broken.relative_to(path)}: cannot decode image: image file is truncated" in message
    validation = json.loads((reproduced / "data/08_reporting/validation.json").read_text())
    assert validation["success"] is False, "the report says what failed"
    assert _state(reproduced, skip=expected_changes) == before


@pytest.mark.parametrize("case", CASES)
def test_bad_source_fails_clearly_and_changes_nothing(
    case: str, reproduced: Path, tmp_path: Path
) -> None:
    make_source, problem = CASES[case]
    source, path, named_path = make_source(tmp_path)
    before = _state(reproduced)
    result = run(
        reproduced,
        "kedro",
        "run",
        "--pipelines",
        "ingestion",
        "--params",
        f"ingestion.source={source},ingestion.path={path}",
        check=False,
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("visionops: error: "), result.stderr[-2000:]
    assert problem in last_line
    assert str(named_path) in last_line
    assert _state(reproduced) == before
    assert not (tmp_path / "marker").exists(), "unpickling ran the attacker's code"
