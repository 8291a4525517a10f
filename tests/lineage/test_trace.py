"""`visionops lineage trace`: exactly the versions that used a piece of data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from dvc_data.hashfile.build import build
from dvc_data.hashfile.db.local import LocalHashFileDB
from dvc_objects.fs.local import LocalFileSystem

from visionops.console import main
from visionops.errors import VisionOpsError
from visionops.lineage.dvc_store import dvc_md5
from visionops.lineage.trace import parse_query, trace
from visionops.registry.labels import promote

from .synthetic import RAW, add_version, md5_of, record

SHARED = md5_of("the shared raw dataset")


@pytest.fixture
def two_models(tmp_path: Path) -> Path:
    """a:1 (was production) and a:3 (production) and b:1 used SHARED; a:2 did not."""
    root = tmp_path / "registry"
    add_version(root, "a", 1, record("a1", SHARED), labels=("production",))
    add_version(root, "a", 2, record("a2"))
    add_version(root, "a", 3, record("a3", SHARED))
    promote(root, "a", 3, reason="newer", actor="alice")
    add_version(root, "b", 1, record("b1", SHARED), labels=("production",))
    return root


def _found(root: Path, text: str, project: Path) -> dict[str, str]:
    return {
        f"{use.model}:{use.version}": use.standing.describe()
        for use in trace(root, parse_query(text, project))
    }


def test_a_full_md5_finds_every_version_that_used_it(two_models: Path, tmp_path: Path) -> None:
    assert _found(two_models, SHARED, tmp_path) == {
        "a:1": "was in production",
        "a:3": "in production now",
        "b:1": "in production now",
    }
    assert _found(two_models, md5_of("a2:raw"), tmp_path) == {"a:2": "never in production"}


def test_a_prefix_of_eight_digits_is_enough(two_models: Path, tmp_path: Path) -> None:
    assert set(_found(two_models, SHARED[:8].upper(), tmp_path)) == {"a:1", "a:3", "b:1"}
    with pytest.raises(VisionOpsError, match="at least 8 hex digits"):
        parse_query(SHARED[:7], tmp_path)


def test_the_registering_stages_entry_is_not_this_versions_data(
    two_models: Path, tmp_path: Path
) -> None:
    # Each synthetic record's deployment entry names this md5, written by the run before.
    assert _found(two_models, md5_of("the run before"), tmp_path) == {}


def test_a_project_file_matches_its_path_and_content(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / RAW).parent.mkdir(parents=True)
    (project / RAW).write_bytes(b"\x93NUMPY raw images")
    content = hashlib.md5(b"\x93NUMPY raw images").hexdigest()
    root = tmp_path / "registry"
    add_version(root, "m", 1, record("here", content))
    moved = record("elsewhere")
    moved["stages"]["ingestion"]["outs"] = {"data/other.npz": content}
    add_version(root, "m", 2, moved)
    add_version(root, "m", 3, record("other content"))
    assert set(_found(root, str(project / RAW), project)) == {"m:1"}
    outside = tmp_path / "copy.npz"
    outside.write_bytes((project / RAW).read_bytes())
    assert set(_found(root, str(outside), project)) == {"m:1", "m:2"}


def test_a_folder_is_hashed_as_dvc_hashes_it(tmp_path: Path) -> None:
    folder = tmp_path / "project" / "data" / "01_raw"
    (folder / "cats").mkdir(parents=True)
    (folder / "cats" / "1.png").write_bytes(b"\x89PNG one")
    (folder / "cats-and-dogs.txt").write_text("labels")
    (folder / ".gitkeep").write_text("")
    filesystem = LocalFileSystem()
    odb = LocalHashFileDB(filesystem, str(tmp_path / "odb"))
    _, _, dvc_object = build(odb, str(folder), filesystem, "md5")
    assert dvc_md5(folder) == dvc_object.hash_info.value
    lineage = record("folder")
    lineage["stages"]["ingestion"]["deps"] = {"data/01_raw": dvc_md5(folder)}
    add_version(tmp_path / "registry", "m", 1, lineage)
    add_version(tmp_path / "registry", "m", 2, record("a file instead"))
    assert set(_found(tmp_path / "registry", str(folder), tmp_path / "project")) == {"m:1"}


def test_the_command_prints_json_for_machines(
    two_models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["lineage", "trace", SHARED[:10], "--registry", str(two_models), "--json"])
    assert exit_info.value.code == 0
    report = json.loads(capsys.readouterr().out)
    found = {(v["model"], v["version"]): v for v in report["versions"]}
    assert set(found) == {("a", 1), ("a", 3), ("b", 1)}
    assert found["a", 1]["ever_production"] and not found["a", 1]["in_production"]
    assert {m["path"] for m in found["b", 1]["matches"]} == {RAW}


def test_neither_a_path_nor_a_hash_is_a_clear_error(
    two_models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["lineage", "trace", "no/such/file.npz", "--registry", str(two_models)])
    assert exit_info.value.code == 1
    assert "neither a file or folder" in capsys.readouterr().err


def test_records_written_before_the_sharded_data_plane_still_trace(tmp_path: Path) -> None:
    """A version registered when datasets were single NPZ files keeps its record as it
    was: tracing its raw dataset's md5 still finds it, beside newer versions."""
    old = record("old", SHARED)
    renamed = {
        RAW: "data/02_intermediate/raw_dataset.npz",
        "data/03_primary/validated.json": "data/03_primary/validated_dataset.npz",
    }
    for stage in old["stages"].values():
        for side in ("deps", "outs"):
            stage[side] = {
                renamed.get(path, path): md5 for path, md5 in stage.get(side, {}).items()
            }
    root = tmp_path / "registry"
    add_version(root, "a", 1, old, labels=("production",))
    add_version(root, "a", 2, record("new", SHARED))
    found = trace(root, parse_query(SHARED, tmp_path))
    paths = {use.version: {match["path"] for match in use.matches} for use in found}
    assert paths == {1: {"data/02_intermediate/raw_dataset.npz"}, 2: {RAW}}
