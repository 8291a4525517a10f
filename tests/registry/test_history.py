"""A model's history and one version's record, read from the registry and its log."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from visionops.errors import RegistryError
from visionops.registry.events import read_events
from visionops.registry.history import describe_version, history, resolve_label
from visionops.registry.labels import rollback
from visionops.registry.layout import LINEAGE_FILE, SAVED_MODEL_FILE, version_dir

MODEL = "digits"
REGISTRAR = "tester@ci"  # who the conftest's stand-in registrations are logged as


def test_resolve_label(three_productions: Path) -> None:
    assert resolve_label(three_productions, MODEL, "production") == 3
    with pytest.raises(RegistryError, match="has no label 'candidate'; its labels: production=3"):
        resolve_label(three_productions, MODEL, "candidate")


def test_history_summarises_every_version(
    three_productions: Path, add_version: Callable[..., Path]
) -> None:
    add_version(three_productions, 4, ("candidate",))
    rollback(three_productions, MODEL, "v3 drifts", actor="carol@ops")
    shutil.rmtree(version_dir(three_productions, MODEL, 1))
    summary = {entry.version: entry for entry in history(three_productions, MODEL)}
    assert sorted(summary) == [1, 2, 3, 4]
    assert not summary[1].exists
    assert summary[1].ever_production
    assert summary[2].labels == ["production"]
    assert summary[2].registered_by == REGISTRAR
    assert summary[2].registered_at == read_events(three_productions, MODEL)[1]["time"]
    assert [(p["event"], p["from"]) for p in summary[2].promotions] == [
        ("registered", 1),
        ("rolled_back", 3),
    ]
    assert summary[2].promotions[-1]["actor"] == "carol@ops"
    assert summary[3].labels == []
    assert summary[3].ever_production
    assert summary[4].labels == ["candidate"]
    assert not summary[4].ever_production


def test_history_of_an_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no model 'digits'"):
        history(tmp_path, MODEL)


def test_describe_version_reports_lineage_events_and_changed_files(
    three_productions: Path,
) -> None:
    info = describe_version(three_productions, MODEL, 2)
    assert info["labels"] == []
    assert info["path"] == str(version_dir(three_productions, MODEL, 2).resolve())
    recorded = json.loads((version_dir(three_productions, MODEL, 2) / LINEAGE_FILE).read_text())
    # The files the record hashes, the record itself and the signature over them all.
    assert info["files"] == len(recorded["files"]) + 2, "the registered files and the record"
    assert info["registered"]["actor"] == REGISTRAR
    assert info["lineage"]["blessing"]["blessed"] is True
    assert info["lineage"]["metrics"] == {"accuracy": 0.92}
    assert info["content"]["intact"] is True
    assert [(e["event"], e["version"]) for e in info["events"]] == [
        ("registered", 2),
        ("registered", 3),  # production moved from 2 to 3
    ]
    (version_dir(three_productions, MODEL, 2) / SAVED_MODEL_FILE).write_bytes(b"swapped")
    assert describe_version(three_productions, MODEL, 2)["content"]["intact"] is False
