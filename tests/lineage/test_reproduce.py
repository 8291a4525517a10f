"""`visionops reproduce`: what it refuses, what inputs it restores, how it compares."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from visionops.console import main
from visionops.lineage.compare import input_paths, stage_differences, weights_sha256
from visionops.lineage.dvc_store import Storage
from visionops.lineage.reproduce import ReproductionError, check_reproducible, restore_inputs

from .synthetic import MODEL_FILE, RAW, SOURCE, add_version, md5_of, record

COMMIT = "c0ffee" + "0" * 34


def _code(dirty: bool | None, *changed: str) -> dict:
    return {"code": {"commit": COMMIT, "dirty": dirty, "changed_files": list(changed)}}


def test_a_clean_record_is_reproducible() -> None:
    assert check_reproducible(_code(False), "m:1", allow_dirty=False) == []


def test_a_record_dirty_only_in_dvc_lock_is_reproducible() -> None:
    # git status --porcelain: the first line lost its leading space to strip()
    notes = check_reproducible(_code(True, "M dvc.lock"), "m:1", allow_dirty=False)
    assert notes == [f"the tree differed from commit {COMMIT[:12]} only in dvc.lock"]


@pytest.mark.parametrize(
    "code",
    [_code(True, "M dvc.lock", " M src/visionops/modeling/trainer.py"), _code(None)],
)
def test_a_dirty_record_is_refused_unless_allowed(code: dict) -> None:
    with pytest.raises(ReproductionError, match="cannot be reproduced exactly: it was made from"):
        check_reproducible(code, "m:1", allow_dirty=False)
    assert "--allow-dirty" in check_reproducible(code, "m:1", allow_dirty=True)[0]


def test_a_record_without_a_commit_is_refused_by_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_version(tmp_path, "m", 1, record("one", code={"commit": None, "dirty": None}))
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "m:1", "--registry", str(tmp_path), "--project-dir", str(tmp_path)])
    assert exit_info.value.code == 1
    assert "m:1 cannot be reproduced exactly: its record has no git commit" in (
        capsys.readouterr().err
    )


def test_inputs_are_what_no_stage_produces() -> None:
    assert input_paths(record("one")) == {
        SOURCE: md5_of("one:source"),
        "src/visionops/sources": "5" * 32 + ".dir",
    }


def test_inputs_come_from_the_commit_the_project_or_the_cache(tmp_path: Path) -> None:
    worktree, project, cache = tmp_path / "worktree", tmp_path / "project", tmp_path / "cache"
    contents = {"conf/a.yml": b"a: 1", "data/b.npz": b"b-data", "data/c.npz": b"c-data"}
    digests = {path: hashlib.md5(data).hexdigest() for path, data in contents.items()}
    for folder, path in ((worktree, "conf/a.yml"), (project, "data/b.npz")):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(contents[path])
    stored = cache / "files/md5" / digests["data/c.npz"][:2] / digests["data/c.npz"][2:]
    stored.parent.mkdir(parents=True)
    stored.write_bytes(contents["data/c.npz"])
    lineage = {"stages": {"ingestion": {"deps": {**digests, "data/gone": md5_of("gone")}}}}
    notes = restore_inputs(lineage, project, worktree, Storage(cache=cache))
    assert notes[:2] == [
        f"input data/b.npz copied from the project (md5 {digests['data/b.npz']})",
        f"input data/c.npz restored from the DVC cache or remote (md5 {digests['data/c.npz']})",
    ]
    assert "input data/gone" in notes[2] and "neither in the commit" in notes[2]
    assert {p: (worktree / p).read_bytes() for p in contents} == contents


def test_differences_name_the_stage_where_the_runs_part(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    recorded = record("one")
    rerun = json.loads(json.dumps(recorded["stages"]))
    rerun["training"]["outs"][MODEL_FILE] = md5_of("another model")
    rerun["training"]["params"]["params.yaml"]["training.epochs"] = 3
    rerun["evaluation"]["deps"][MODEL_FILE] = md5_of("another model")
    lines = stage_differences(recorded, rerun, tmp_path)
    assert lines == [
        f"training: output {MODEL_FILE} md5 {md5_of('one:' + MODEL_FILE)} recorded, "
        f"{md5_of('another model')} now",
        "training: parameter training.epochs = 40 recorded, 3 now",
        f"evaluation: input {MODEL_FILE} md5 {md5_of('one:' + MODEL_FILE)} recorded, "
        f"{md5_of('another model')} now",
    ]
    assert stage_differences(recorded, rerun, tmp_path, ran=("ingestion",)) == []
    assert RAW in recorded["stages"]["ingestion"]["outs"]


def test_the_weights_hash_is_read_where_the_catalog_says(tmp_path: Path) -> None:
    (tmp_path / "conf/base").mkdir(parents=True)
    (tmp_path / "conf/base/catalog.yml").write_text(
        "training_metadata:\n  type: json.JSONDataset\n  filepath: out/meta.json\n"
    )
    assert weights_sha256(tmp_path) is None
    (tmp_path / "out").mkdir()
    (tmp_path / "out/meta.json").write_text('{"weights_sha256": "abc"}')
    assert weights_sha256(tmp_path) == "abc"


def test_a_commit_missing_from_the_project_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_version(tmp_path / "registry", "m", 1, record("one"))
    argv = ["reproduce", "m:1", "--registry", str(tmp_path / "registry")]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--project-dir", str(tmp_path)])
    assert exit_info.value.code == 1
    assert f"commit {COMMIT[:12]} of m:1 is not in a git repository" in capsys.readouterr().err
