"""`visionops lineage verify`: files, audit log and DVC data, each problem named."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from visionops.console import main
from visionops.lineage.verify import targets, verify
from visionops.registry.layout import LINEAGE_FILE, events_path, version_dir

from .synthetic import METRICS, MODEL_FILE, RAW, WEIGHTS_FILE, add_version, record

DVC_CONFIG = """[core]
    remote = local
['remote "local"']
    url = ../../storage
"""
DVC_YAML = f"""stages:
  evaluation:
    cmd: kedro run --pipelines evaluation
    metrics:
      - {METRICS}:
          cache: false
"""


def _store(folder: Path, content: bytes) -> str:
    md5 = hashlib.md5(content).hexdigest()
    path = folder / "files" / "md5" / md5[:2] / md5[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return md5


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A DVC project whose cache holds every cached output of m:1 and m:2's records."""
    project = tmp_path / "project"
    (project / ".dvc").mkdir(parents=True)
    (project / ".dvc" / "config").write_text(DVC_CONFIG)
    (project / "dvc.yaml").write_text(DVC_YAML)
    root = project / "registry"
    for version in (1, 2):
        lineage = record(f"v{version}")
        for stage in lineage["stages"].values():
            for path in stage["outs"]:
                if path != METRICS:
                    content = f"{path} of v{version}".encode()
                    stage["outs"][path] = _store(project / ".dvc" / "cache", content)
        add_version(root, "m", version, lineage, labels=("production",))
    return project


def _verify(project: Path, reference: str | None = None) -> tuple[list[str], list[str]]:
    root = project / "registry"
    result = verify(root, targets(root, reference), project)
    return result.problems, [note for check in result.versions for note in check.notes]


def test_an_intact_registry_passes_with_a_summary(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["lineage", "verify", "--all", "--registry", str(project / "registry")]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--project-dir", str(project)])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    assert "all intact: 2 versions, 1 events log, 14 DVC outputs" in out
    assert "outputs with cache: false in dvc.yaml skipped" in out


def test_one_flipped_byte_names_the_file(project: Path, capsys) -> None:
    weights = version_dir(project / "registry", "m", 2) / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[100] ^= 1
    weights.write_bytes(bytes(data))
    argv = ["lineage", "verify", "m:2", "--registry", str(project / "registry")]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--project-dir", str(project)])
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    recorded = json.loads((weights.parents[1] / LINEAGE_FILE).read_text())["files"]
    assert f"m:2  FAILED, 1 problem: {len(recorded)} files, 7 DVC outputs checked" in out
    assert f"    changed file {WEIGHTS_FILE}: sha256 " in out
    assert out.endswith("FAILED: 1 problem\n")


def test_missing_and_extra_files_are_named(project: Path) -> None:
    folder = version_dir(project / "registry", "m", 1)
    (folder / "saved_model.pb").unlink()
    (folder / "variables" / "backdoor.bin").write_bytes(b"!")
    problems, _ = _verify(project, "m:1")
    assert problems == [
        "m:1: missing file saved_model.pb (in the record, not on disk)",
        "m:1: extra file variables/backdoor.bin (on disk, not in the record)",
    ]


def test_an_edited_record_is_caught_by_the_logged_digest(project: Path) -> None:
    path = version_dir(project / "registry", "m", 1) / LINEAGE_FILE
    lineage = json.loads(path.read_text())
    lineage["metrics"]["accuracy"] = 0.9999
    path.write_text(json.dumps(lineage))
    problems, _ = _verify(project, "m:1")
    assert len(problems) == 1
    assert "changed assets.extra/lineage.json" in problems[0]


def test_an_edited_event_breaks_the_chain(project: Path) -> None:
    log = events_path(project / "registry", "m")
    lines = log.read_text().splitlines(keepends=True)
    event = json.loads(lines[0])
    event["actor"] = "mallory"
    lines[0] = json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n"
    log.write_text("".join(lines))
    problems, _ = _verify(project)
    assert any(p.startswith("events log of m: line 1: edited event") for p in problems)


def test_a_missing_cache_file_is_named(project: Path) -> None:
    raw_md5 = json.loads((version_dir(project / "registry", "m", 1) / LINEAGE_FILE).read_text())[
        "stages"
    ]["ingestion"]["outs"][RAW]
    (project / ".dvc/cache/files/md5" / raw_md5[:2] / raw_md5[2:]).unlink()
    problems, _ = _verify(project, "m:1")
    assert len(problems) == 1
    assert problems[0].startswith(f"m:1: DVC output {RAW} of ingestion (md5 {raw_md5}) is in ")
    assert "neither the cache nor a local remote" in problems[0]


def test_a_corrupted_cache_file_is_named_and_the_remote_can_vouch(project: Path) -> None:
    model_md5 = json.loads((version_dir(project / "registry", "m", 2) / LINEAGE_FILE).read_text())[
        "stages"
    ]["training"]["outs"][MODEL_FILE]
    cached = project / ".dvc/cache/files/md5" / model_md5[:2] / model_md5[2:]
    content = cached.read_bytes()
    cached.write_bytes(b"corrupted")
    problems, _ = _verify(project, "m:2")
    assert problems == [
        f"m:2: DVC output {MODEL_FILE} of training (md5 {model_md5}) is the cache copy "
        f"{cached} has md5 {hashlib.md5(b'corrupted').hexdigest()}"
    ]
    _store(project.parent / "storage", content)  # `dvc push` had sent a good copy
    assert _verify(project, "m:2")[0] == []


def test_old_records_are_noted_not_failed(tmp_path: Path) -> None:
    add_version(tmp_path / "registry", "old", 1, {"metrics": {"accuracy": 0.9}}, hash_files=False)
    (tmp_path / "registry/old/1/variables/extra.bin").write_bytes(b"?")
    problems, notes = _verify(tmp_path)
    assert problems == [
        "old:1: changed the version's files: the content digest differs from "
        "the one logged at registration (event #1)"
    ]
    assert "no file hashes recorded (an older record)" in notes
