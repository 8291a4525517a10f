"""The audit trail end to end: two versions from two datasets, then show, trace, verify
and an exact reproduction of the first, in a fresh copy of the project."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from e2e.conftest import reproduced_copy, run, set_parameters
from visionops.lineage.record import NOT_RECORDED
from visionops.registry.layout import LINEAGE_FILE, list_versions, read_labels
from visionops.sources.digits import read_digits

from .test_mermaid import parse_flowchart, reachable

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RAW = "data/02_intermediate/raw_dataset"
SUBSET = "data/01_raw/digits_subset.npz"


def _set(project: Path, group: str, **values: object) -> None:
    set_parameters(project, {group: values})


def _write_subset(path: Path) -> None:
    """The digits without every ninth image."""
    digits = read_digits()
    keep = np.arange(len(digits.labels)) % 9 != 0
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        images=digits.images[keep],
        labels=digits.labels[keep],
        class_names=np.asarray(digits.class_names),
    )


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 1 from the digits; version 2, forced, from a subset; each from a commit."""
    project = reproduced_copy(tmp_path_factory, "lineage")  # version 1: the copy's commit
    _set(project, "training", epochs=10)  # a quarter of the default: the test's time
    _write_subset(project / SUBSET)
    _set(project, "ingestion", source="npz", path=SUBSET)
    _set(project, "evaluation", force=True, force_reason="e2e: train on the subset")
    run(project, "git", "commit", "--quiet", "--all", "-m", "train on the digits subset")
    run(project, "dvc", "repro")
    assert list_versions(project / "registry", "classifier") == [1, 2]
    return project


def _record(project: Path, version: int) -> dict:
    return json.loads((project / "registry/classifier" / str(version) / LINEAGE_FILE).read_text())


def _json(project: Path, *command: str) -> dict:
    return json.loads(run(project, "visionops", *command, "--json").stdout)


def test_trace_finds_exactly_the_versions_that_used_the_data(two_versions: Path) -> None:
    first_raw = _record(two_versions, 1)["stages"]["ingestion"]["outs"][RAW]
    report = _json(two_versions, "lineage", "trace", first_raw)
    assert [(v["version"], v["production"]) for v in report["versions"]] == [
        (1, "was in production")
    ]
    report = _json(two_versions, "lineage", "trace", SUBSET)
    assert [(v["version"], v["in_production"]) for v in report["versions"]] == [(2, True)]


def test_show_accounts_for_every_field(two_versions: Path) -> None:
    info = _json(two_versions, "lineage", "show", "classifier@production")
    assert info["version"] == 2
    assert NOT_RECORDED not in json.dumps({k: v for k, v in info.items() if k != "blessing"})
    assert info["data"]["source"] == "npz"
    assert info["data"]["path"] == SUBSET
    assert info["code"]["dirty"] is True and info["code"]["changed_files"] == ["M dvc.lock"]
    assert info["blessing"]["forced_reason"] == "e2e: train on the subset"
    assert info["production"]["in_production"]
    text = run(two_versions, "visionops", "lineage", "show", "classifier:2").stdout
    assert f"source       npz (path {SUBSET})" in text
    assert "forced by" in text and "e2e: train on the subset" in text
    graph = run(two_versions, "visionops", "lineage", "show", "classifier:1", "--format", "mermaid")
    nodes, edges = parse_flowchart(graph.stdout)
    assert "model" in reachable(edges, "source")


def test_verify_finds_everything_intact(two_versions: Path) -> None:
    result = run(two_versions, "visionops", "lineage", "verify", "--all")
    assert "all intact: 2 versions, 1 events log" in result.stdout


def test_reproduce_rebuilds_version_1_bit_for_bit(two_versions: Path) -> None:
    events = (two_versions / "registry/classifier/events.jsonl").read_text()
    result = run(two_versions, "visionops", "reproduce", "classifier:1", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "classifier:1: identical weights" in result.stdout
    recorded = _record(two_versions, 1)["training"]["weights_sha256"]
    assert f"reproduced  {recorded}" in result.stdout
    # the real registry is untouched, and the worktree is gone
    assert (two_versions / "registry/classifier/events.jsonl").read_text() == events
    assert read_labels(two_versions / "registry") == {"classifier": {"production": 2}}
    worktrees = run(two_versions, "git", "worktree", "list").stdout.splitlines()
    assert len(worktrees) == 1
