"""The model card of a registered version: Markdown, offline HTML, CycloneDX 1.6."""

from __future__ import annotations

import json
import re

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from visionops.console import main
from visionops.errors import ConfigError
from visionops.registry.events import APPROVED, append_event
from visionops.release.card import build_card
from visionops.release.card_markdown import render_markdown
from visionops.release.command import card_command
from visionops.release.layout import CARD_CYCLONEDX, CARD_HTML, CARD_MARKDOWN, SBOM_FILE
from visionops.release.settings import load_card_text

from .conftest import MODEL, Registered

PROJECT = __import__("pathlib").Path(__file__).parents[2]


def _validate(text: str) -> None:
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors


def test_the_stored_card_has_every_part(registered: Registered) -> None:
    card = (registered.path / CARD_MARKDOWN).read_text()
    record = json.loads((registered.path / "assets.extra/lineage.json").read_text())
    metrics = record["metrics"]
    assert card.startswith("# Model card: digits version 1\n")
    assert "labels when this card was written: production" in card
    assert load_card_text(PROJECT, MODEL).use_cases[0] in card, "intended use from conf"
    assert "## Limitations" in card and 'has no "none of these"' in card
    assert "Sources: digits\n" in card or "Sources: digits (" in card
    assert "Images validated: 1797" in card
    assert "Validation: passed (16 expectations evaluated, 0 failed" in card
    assert "| 0 | 178 | 9.9% |" in card, "class balance from the data profile"
    assert f"| accuracy | {metrics['accuracy']:.4f} |" in card
    assert f"Calibration: {metrics['expected_calibration_error']:.4f}, expected calibration" in card
    worst = min(metrics["per_class"], key=lambda name: metrics["per_class"][name]["f1"])
    section = card.split("Worst classes (lowest F1):")[1].split("Per class:")[0]
    assert f"| {worst} |" in section.splitlines()[4], "the lowest F1 comes first"
    assert len(re.findall(r"^\| \d ", section, re.MULTILINE)) == 3
    assert "no model was in production when it was evaluated" in card
    assert "Blessing: blessed. blessed by force (tester: card test)" in card
    assert "- failed: accuracy is low" in card
    assert "Python 3.11" in card and "TensorFlow 2.21.0" in card
    assert "Devices: /device:CPU:0 (default strategy, float32 precision)" in card
    assert "## Approvals\n\nnone yet\n" in card
    assert "Signed with key " in card and f"SBOM: {SBOM_FILE.as_posix()}, " in card


def test_the_html_card_is_one_offline_page(registered: Registered) -> None:
    page = (registered.path / CARD_HTML).read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert not re.search(r"https?://|<link|<script|src=", page), "nothing fetched"
    assert "<h2>Approvals</h2>\n<p>none yet</p>" in page


def test_the_cyclonedx_card_validates_and_holds_metrics_json(registered: Registered) -> None:
    text = (registered.path / CARD_CYCLONEDX).read_text()
    _validate(text)
    (component,) = json.loads(text)["components"]
    assert component["type"] == "machine-learning-model"
    card = component["modelCard"]
    overall = {
        metric["type"]: float(metric["value"])
        for metric in card["quantitativeAnalysis"]["performanceMetrics"]
        if "slice" not in metric
    }
    metrics_json = json.loads((registered.root.parent / "metrics.json").read_text())
    assert {key: overall[key] for key in metrics_json} == metrics_json, "exactly equal"
    assert card["modelParameters"]["modelArchitecture"] == "simple_cnn"
    assert card["considerations"]["technicalLimitations"]
    sliced = [m for m in card["quantitativeAnalysis"]["performanceMetrics"] if "slice" in m]
    assert len(sliced) == 10 * 3, "precision, recall and F1 of each class"


def test_the_sbom_is_the_lock_and_validates(registered: Registered) -> None:
    text = (registered.path / SBOM_FILE).read_text()
    _validate(text)
    lock = (PROJECT / "requirements.lock").read_text()
    tensorflow = re.search(r"^tensorflow==(\S+)", lock, re.MULTILINE).group(1)
    components = {c["name"]: c for c in json.loads(text)["components"]}
    assert components["tensorflow"]["purl"] == f"pkg:pypi/tensorflow@{tensorflow}"
    assert len(components) == len(re.findall(r"^[A-Za-z0-9].*==", lock, re.MULTILINE))


def test_the_card_command_shows_approvals_given_later(
    registered: Registered, capsys: pytest.CaptureFixture[str]
) -> None:
    append_event(
        registered.root,
        MODEL,
        APPROVED,
        version=1,
        labels={"production": 1},
        reason="reviewed the worst classes",
        details={"label": "production"},
        actor="carol@review",
    )
    assert card_command(registered.root, f"{MODEL}@production", "md", PROJECT) == 0
    markdown = capsys.readouterr().out
    assert "carol@review | reviewed the worst classes | label: production |" in markdown
    assert "none yet" not in markdown
    argv = ["models", "card", f"{MODEL}:1", "--format", "cyclonedx"]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--registry", str(registered.root), "--project-dir", str(PROJECT)])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    _validate(text)
    assert "carol@review: reviewed the worst classes" in text
    assert card_command(registered.root, MODEL, "html", PROJECT) == 0
    assert "carol@review" in capsys.readouterr().out


def test_a_bad_card_setting_names_the_key_and_file(tmp_path) -> None:
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "base" / "release_card.yml").write_text("use_case: [typo]\n")
    with pytest.raises(ConfigError, match=r"release_card.yml has unknown setting\(s\) use_case"):
        load_card_text(tmp_path, MODEL)


def test_the_card_names_each_source_and_the_feedback_learned_from() -> None:
    feedback = {"model": MODEL, "images": 40, "segments": [{"name": "a"}, {"name": "b"}]}
    sources = [
        {"source": "digits", "path": None, "images": 1797},
        {
            "source": "image_folder",
            "path": "data/01_raw/feedback",
            "images": 40,
            "feedback": feedback,
        },
    ]
    record = {"data_source": {"source": "digits", "sources": sources}}
    card = build_card(MODEL, 2, record, None, [], load_card_text(PROJECT, MODEL))
    assert card["data"]["sources"] == (
        "digits (1797 images); image_folder at data/01_raw/feedback (40 images), production "
        f"feedback of {MODEL}: 40 labelled images from 2 log segment(s)"
    )
    assert "Sources: digits (1797 images); image_folder at" in render_markdown(card)
