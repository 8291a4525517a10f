"""``visionops models show|promote|rollback|events``: what a user types and sees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from registering import run_models as run
from visionops.registry.layout import events_path, read_labels

MODEL = "digits"


def test_show_a_version_by_label(three_productions: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "show", f"{MODEL}@production", "--registry", str(three_productions))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "digits:3  [production]"
    assert f"path        {(three_productions / MODEL / '3').resolve()}" in out
    assert "registered" in out and "tester@ci" in out
    assert "content     unchanged since registration" in out
    assert "metrics     accuracy=0.93" in out
    assert "registered v3 by tester@ci  production: 2 -> 3" in out


def test_show_json(three_productions: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "show", f"{MODEL}:1", "--registry", str(three_productions), "--json")
    assert code == 0
    info = json.loads(out)
    assert (info["version"], info["labels"]) == (1, [])
    assert info["lineage"]["blessing"]["reason"] == "v1 accuracy 0.91 >= 0.90"
    assert [event["seq"] for event in info["events"]] == [1, 2]


def test_show_a_model_lists_its_history(
    three_productions: Path, capsys: pytest.CaptureFixture
) -> None:
    code, out, _ = run(capsys, "show", MODEL, "--registry", str(three_productions))
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("digits:1  registered ")
    assert "was production" in lines[0]
    assert lines[2].startswith("digits:3  [production]  registered ")


def test_promote_then_rollback(
    three_productions: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The registry defaults to the project's registry_root (params.yaml, read from the
    working folder); the actor to $VISIONOPS_ACTOR."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "params.yaml").write_text(
        f"model_name: {MODEL}\nregistry_root: {three_productions}\n"
    )
    monkeypatch.chdir(project)
    monkeypatch.setenv("VISIONOPS_ACTOR", "dana")
    code, out, _ = run(capsys, "promote", f"{MODEL}:1", "--reason", "v2 and v3 drift")
    assert (code, out) == (0, "digits: production moved from 3 to 1\n")
    code, out, _ = run(capsys, "rollback", MODEL, "--reason", "drift was a bad sensor", "--json")
    assert code == 0
    move = json.loads(out)
    assert (move["from_version"], move["to_version"]) == (1, 3)
    assert move["event"]["actor"].startswith("dana@")
    assert read_labels(three_productions)[MODEL] == {"production": 3}


def test_promote_by_label_to_another_label(
    three_productions: Path, capsys: pytest.CaptureFixture
) -> None:
    registry = str(three_productions)
    args = ("--registry", registry, "--reason", "canary")
    assert run(capsys, "promote", f"{MODEL}:2", "--label", "candidate", *args)[0] == 0
    code, out, _ = run(capsys, "promote", f"{MODEL}@candidate", *args)
    assert (code, out) == (0, "digits: production moved from 3 to 2\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("promote", "digits:9", "--reason", "x"), "version 9 of 'digits' does not exist"),
        (("promote", "digits", "--reason", "x"), "say which version to promote: digits:VERSION"),
        (("promote", "digits:two", "--reason", "x"), "put a version number after ':'"),
        (("promote", "digits@canary", "--reason", "x"), "'digits' has no label 'canary'"),
        (("rollback", "pets", "--reason", "x"), "no model 'pets'"),
        (("show", "digits:7"), "version 7 of 'digits' does not exist"),
        (("events", "pets"), "no model 'pets'"),
    ],
    ids=["no-version", "bare-model", "bad-version", "no-label", "no-model", "show", "events"],
)
def test_user_errors_print_one_line_and_exit_1(
    three_productions: Path, capsys: pytest.CaptureFixture, argv: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, *argv, "--registry", str(three_productions))
    assert code == 1
    assert out == ""
    assert err.startswith("visionops: error: ")
    assert message in err
    assert "Traceback" not in err


def test_promote_needs_a_reason(three_productions: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(capsys, "promote", f"{MODEL}:1", "--registry", str(three_productions))
    assert code == 2
    assert "--reason" in err


def test_events_verify_passes_then_names_an_edited_line(
    three_productions: Path, capsys: pytest.CaptureFixture
) -> None:
    registry = ("--registry", str(three_productions))
    code, out, _ = run(capsys, "events", MODEL, "--verify", *registry)
    assert code == 0
    assert out.splitlines()[-1].startswith("chain intact: 3 events, last hash ")
    path = events_path(three_productions, MODEL)
    path.write_bytes(path.read_bytes().replace(b"tester@ci", b"mallory@ci", 1))
    code, out, err = run(capsys, "events", MODEL, "--verify", *registry)
    assert code == 1
    assert "failed verification (2 problems)" in err
    assert "line 1: edited event: hash mismatch" in err
    assert "line 2: broken link" in err
    code, out, _ = run(capsys, "events", MODEL, "--verify", "--json", *registry)
    report = json.loads(out)
    assert code == 1
    assert not report["intact"]
    assert len(report["problems"]) == 2
    assert len(report["events"]) == 3


def test_events_verify_lists_problems_of_an_unreadable_log(
    three_productions: Path, capsys: pytest.CaptureFixture
) -> None:
    path = events_path(three_productions, MODEL)
    path.write_bytes(path.read_bytes() + b"not json\n")
    code, out, err = run(capsys, "events", MODEL, "--verify", "--registry", str(three_productions))
    assert (code, out) == (1, "")
    assert "line 4: unparseable" in err
    code, _, err = run(capsys, "events", MODEL, "--registry", str(three_productions))
    assert code == 1
    assert "line 4 of" in err and "--verify" in err


def test_models_commands_do_not_import_tensorflow(three_productions: Path) -> None:
    """The registry commands answer in well under a second: no TensorFlow, no Keras."""
    script = (
        "import sys\n"
        "from visionops.console import main\n"
        "for argv in (['show', 'digits:1'], ['events', 'digits', '--verify'],\n"
        "             ['promote', 'digits:1', '--reason', 'r'],\n"
        "             ['rollback', 'digits', '--reason', 'r']):\n"
        "    try:\n"
        "        main(['models', *argv, '--registry', sys.argv[1]])\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0, (argv, exit.code)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(three_productions)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


def test_show_says_the_verdict_once_and_summarises_the_lineage(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The record as the deployment stage writes it: the evaluation's reason starts with
    its verdict, and code, data, validation, task and weights are recorded."""
    from registering import register_version

    lineage = {
        "metrics": {"accuracy": 0.99},
        "blessing": {"blessed": True, "reason": "blessed: test accuracy 0.9900 meets 0.9000"},
        "code": {"commit": "0123456789abcdef0123", "dirty": True},
        "parameters": {"ingestion": {"source": "image_folder", "path": "data/01_raw/pets"}},
        "validation": {"success": True, "evaluated": 16, "images": 120},
        "class_names": ["cat", "dog", "fox"],
        "image_shape": [32, 32, 3],
        "training": {"weights_sha256": "f" * 64},
    }
    register_version(tmp_path, "pets", 1, lineage, ("production",), actor="tester@ci")
    code, out, _ = run(capsys, "show", "pets:1", "--registry", str(tmp_path))
    assert code == 0
    assert "blessed: blessed:" not in out
    assert "  blessing    blessed: test accuracy 0.9900 meets 0.9000" in out
    assert "  code        commit 0123456789ab (dirty tree)" in out
    assert "  data        image_folder data/01_raw/pets" in out
    assert "  validation  passed 16 expectations on 120 images" in out
    assert "  task        3 classes, images 32x32x3" in out
    assert f"  weights     sha256 {'f' * 16}" in out
