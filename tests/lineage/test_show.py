"""`visionops lineage show`: every recorded field, in words and in JSON; old records too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from visionops.console import main
from visionops.lineage.account import account, render_account
from visionops.lineage.record import NOT_RECORDED, resolve_version
from visionops.registry.layout import LINEAGE_FILE, version_dir

from .conftest import MODEL
from .synthetic import ACTOR, RAW, SOURCE, add_version, md5_of, record


def _show(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(["lineage", "show", *argv])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_text_names_every_field(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _show(capsys, f"{MODEL}:2", "--registry", str(registry))
    expected = record("two")
    for fragment in (
        "digits:2  [production]  in production now",
        f"source       npz (path {SOURCE})",
        f"input md5    {md5_of('two:source')}",
        f"{RAW}  md5 {md5_of('two:raw')}",
        "images       1797",
        "quarantined  2",
        "training.epochs",
        f"commit       {expected['code']['commit']} on main, clean",
        expected["training"]["weights_sha256"],
        "accuracy                     0.9925",
        "verdict      blessed",
        "reason       blessed by force (bob@laptop: hotfix)",
        "forced by    bob@laptop at 2026-03-03T09:00:00+00:00: hotfix",
        "recorded     2026-03-02T10:15:00+00:00 by trainer@build-7",
        f"by {ACTOR}",
        "promoted     #3",
        "by alice@desk: production 1 -> 2 -- beats v1 on the March data",
        "now          yes (production is version 2)",
    ):
        assert fragment in text, fragment


def test_json_holds_every_field(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = json.loads(_show(capsys, f"{MODEL}:1", "--registry", str(registry), "--json"))
    assert info["data"]["source"] == "npz"
    assert info["data"]["input_md5"] == md5_of("one:source")
    assert {"stage": "ingestion", "path": RAW, "md5": md5_of("one:raw") + ".dir"} in info["data"][
        "datasets"
    ]
    assert info["validation"]["images"] == 1797
    assert info["parameters"]["training.epochs"] == 40
    assert info["code"]["dirty"] is False
    assert info["training"]["weights_sha256"] == record("one")["training"]["weights_sha256"]
    assert info["metrics"]["accuracy"] == 0.9925
    assert info["blessing"]["forced"] is False
    assert info["registered"]["by"] == "trainer@build-7"
    assert info["registered"]["event"]["actor"] == ACTOR
    assert info["label_moves"][0]["label"] == "production"
    assert info["production"] | {"labels": None} == {
        "labels": None,
        "in_production": False,
        "ever_production": True,
        "production_version": 2,
        "summary": "was in production",
    }
    assert NOT_RECORDED not in json.dumps(info)


def test_an_old_record_reads_not_recorded(tmp_path: Path) -> None:
    old = {"metrics": {"accuracy": 0.98}, "blessing": {"blessed": True, "reason": "ok"}}
    add_version(tmp_path, MODEL, 1, old)
    add_version(tmp_path, MODEL, 2, None)
    for version in (1, 2):
        info = account(tmp_path, MODEL, version)
        text = render_account(info)
        assert info["code"] == info["training"] == info["stages"] == NOT_RECORDED
        assert info["data"]["source"] == NOT_RECORDED
        assert "commit       not recorded" in text
    assert "lineage      not recorded" in render_account(account(tmp_path, MODEL, 2))


def test_a_damaged_record_is_a_clear_error(registry: Path, capsys) -> None:
    (version_dir(registry, MODEL, 1) / LINEAGE_FILE).write_text("{not json")
    with pytest.raises(SystemExit) as exit_info:
        main(["lineage", "show", f"{MODEL}:1", "--registry", str(registry)])
    assert exit_info.value.code == 1
    assert "lineage.json is not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("reference", "version"),
    [(MODEL, 2), (f"{MODEL}@production", 2), (f"{MODEL}:1", 1)],
)
def test_references_resolve(registry: Path, reference: str, version: int) -> None:
    assert resolve_version(registry, reference) == (MODEL, version)


def test_an_unknown_version_names_the_known_ones(registry: Path) -> None:
    with pytest.raises(Exception, match=r"versions: 1, 2"):
        resolve_version(registry, f"{MODEL}:9")


def test_sources_and_the_feedback_learned_from_are_named(tmp_path: Path) -> None:
    feedback = {
        "model": MODEL,
        "images": 40,
        "senders": {"VISIONOPS_WRITE_TOKEN": 40},
        "segments": [{"name": "seg-1.parquet", "sha256": "a" * 64}, {"name": "seg-2.parquet"}],
    }
    sources = [
        {"source": "digits", "path": None, "images": 1797},
        {
            "source": "image_folder",
            "path": "data/01_raw/feedback",
            "images": 40,
            "feedback": feedback,
        },
    ]
    add_version(tmp_path, MODEL, 1, record("one", data_source={"sources": sources}))
    info = account(tmp_path, MODEL, 1)
    assert info["data"]["sources"] == sources
    text = render_account(info)
    for fragment in (
        "  - digits: 1797 images",
        "  - image_folder data/01_raw/feedback: 40 images",
        f"feedback of {MODEL}: 40 labelled images from 2 log segment(s), sent by "
        "VISIONOPS_WRITE_TOKEN (40)",
        "segment seg-1.parquet",
        "segment seg-2.parquet",
    ):
        assert fragment in text, fragment
