"""The approval gate: production moves only onto a version enough distinct people approved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registering import run_models as visionops
from visionops.errors import ConfigError
from visionops.registry.events import read_events, verify_chain
from visionops.registry.layout import events_path, read_labels
from visionops.registry.release_settings import load_approval_rule

MODEL = "digits"
ROOT = Path(__file__).parents[2]


@pytest.fixture
def gated(three_productions: Path, tmp_path: Path) -> tuple[str, ...]:
    """``--registry`` and ``--project-dir`` of a project that asks for two approvals;
    digits 1, 2 and 3 are registered, production is 3."""
    project = tmp_path / "project"
    (project / "conf" / "base").mkdir(parents=True)
    (project / "conf" / "base" / "release.yml").write_text("approvals:\n  required: 2\n")
    return ("--registry", str(three_productions), "--project-dir", str(project))


def approve(capsys: pytest.CaptureFixture[str], options: tuple[str, ...], actor: str) -> None:
    code, out, err = visionops(
        capsys, "approve", f"{MODEL}:2", "--reason", "checked", "--actor", actor, *options
    )
    assert code == 0, err
    assert out.startswith(f"{MODEL}:2 approved by {actor}; approvals: ")


def test_one_approval_of_two_is_refused_naming_the_approver(
    gated: tuple[str, ...], three_productions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approve(capsys, gated, "alice")
    log = events_path(three_productions, MODEL).read_bytes()
    code, out, err = visionops(capsys, "promote", f"{MODEL}:2", "--to", "production",
                               "--reason", "better", *gated)  # fmt: skip
    assert (code, out) == (1, "")
    assert "digits:2 cannot become production" in err
    assert "approvals from 2 distinct people" in err
    assert "release.yml" in err
    assert "has 1: alice" in err
    assert read_labels(three_productions)[MODEL] == {"production": 3}
    assert events_path(three_productions, MODEL).read_bytes() == log, "nothing logged"


def test_the_same_person_twice_counts_once(
    gated: tuple[str, ...], three_productions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approve(capsys, gated, "alice")
    approve(capsys, gated, "alice")
    code, _, err = visionops(capsys, "promote", f"{MODEL}:2", "--reason", "better", *gated)
    assert code == 1
    assert "has 1: alice" in err
    assert read_labels(three_productions)[MODEL] == {"production": 3}


def test_two_distinct_people_let_the_promotion_through(
    gated: tuple[str, ...], three_productions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    approve(capsys, gated, "alice")
    approve(capsys, gated, "bob")
    code, out, err = visionops(capsys, "promote", f"{MODEL}:2", "--reason", "better", *gated)
    assert (code, out) == (0, "digits: production moved from 3 to 2\n"), err
    assert read_labels(three_productions)[MODEL] == {"production": 2}
    events = read_events(three_productions, MODEL)
    assert [(e["event"], e["actor"]) for e in events[-3:-1]] == [
        ("approval", "alice"),
        ("approval", "bob"),
    ]
    assert events[-1]["details"]["approved_by"] == ["alice", "bob"]
    assert verify_chain(three_productions, MODEL) == []


def test_approvals_show_in_show_and_events(
    gated: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The actor defaults to $VISIONOPS_ACTOR, without the host name."""
    monkeypatch.setenv("VISIONOPS_ACTOR", "dana")
    code, out, _ = visionops(capsys, "approve", f"{MODEL}:2", "--reason", "looks right", *gated)
    assert code == 0
    assert "approvals: 1 (dana), production needs 2" in out
    code, out, _ = visionops(capsys, "show", f"{MODEL}:2", *gated)
    assert "  approvals   1: dana" in out
    assert "approval v2 by dana -- looks right" in out
    code, out, _ = visionops(capsys, "show", f"{MODEL}:2", "--json", *gated)
    assert json.loads(out)["approvals"] == ["dana"]
    code, out, _ = visionops(capsys, "events", MODEL, *gated)
    assert out.splitlines()[-1].endswith("approval v2 by dana -- looks right")
    code, out, _ = visionops(capsys, "show", MODEL, *gated)
    assert "approved by dana" in out.splitlines()[1]


def test_other_labels_and_a_project_without_the_gate_need_no_approval(
    gated: tuple[str, ...], three_productions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = visionops(capsys, "promote", f"{MODEL}:2", "--label", "candidate",
                           "--reason", "canary", *gated)  # fmt: skip
    assert code == 0
    registry = ("--registry", str(three_productions))
    code, _, _ = visionops(capsys, "promote", f"{MODEL}:1", "--reason", "old", *registry)
    assert code == 0
    assert read_labels(three_productions)[MODEL] == {"production": 1, "candidate": 2}


def test_approving_a_missing_version_or_without_a_reason_is_refused(
    gated: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = visionops(capsys, "approve", f"{MODEL}:9", "--reason", "x", *gated)
    assert code == 1
    assert "version 9 of 'digits' does not exist" in err
    code, _, err = visionops(capsys, "approve", MODEL, "--reason", "x", *gated)
    assert "say which version to approve" in err
    code, _, err = visionops(capsys, "approve", f"{MODEL}:2", "--reason", " ", *gated)
    assert (code, "a reason is required" in err) == (1, True)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("approvals:\n  required: two\n", r"approvals\.required in .*release\.yml must be a whole"),
        ("approvals:\n  required: -1\n", r"approvals\.required in .*release\.yml must be a whole"),
        ("approvals: 2\n", r"approvals in .*release\.yml must be a mapping"),
        ("approvals:\n  needed: 2\n", r"release\.yml has unknown setting\(s\) approvals\.needed"),
        ("approval:\n  required: 2\n", r"release\.yml has unknown setting\(s\) approval;"),
    ],
    ids=["word", "negative", "not-a-mapping", "unknown-key", "unknown-section"],
)
def test_a_bad_setting_is_named_with_its_file(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conf" / "local").mkdir(parents=True)
    (tmp_path / "conf" / "local" / "release.yml").write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_approval_rule(tmp_path)


def test_a_bad_setting_stops_the_promotion(
    gated: tuple[str, ...], three_productions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = Path(gated[-1])
    (project / "conf" / "base" / "release.yml").write_text("approvals:\n  required: yes\n")
    code, _, err = visionops(capsys, "promote", f"{MODEL}:2", "--reason", "better", *gated)
    assert code == 1
    assert "approvals.required in" in err and "release.yml" in err
    assert read_labels(three_productions)[MODEL] == {"production": 3}


def test_the_committed_settings_keep_promotion_ungated() -> None:
    rule = load_approval_rule(ROOT)
    assert rule.required == 0
    assert rule.source.endswith("conf/base/release.yml")
