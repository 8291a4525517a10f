"""``visionops models rollout`` and promotion's end of a rollout: what a user types and sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registering import run_models as run
from visionops.registry.events import read_events, verify_chain
from visionops.registry.layout import read_labels
from visionops.registry.rollout import read_rollout

MODEL = "digits"


@pytest.fixture
def registry(tmp_path: Path, add_version) -> Path:
    add_version(tmp_path, 1, ("production",))
    add_version(tmp_path, 2)
    return tmp_path


def test_a_canary_started_shown_and_finished_by_promotion(
    registry: Path, capsys: pytest.CaptureFixture
) -> None:
    where = ("--registry", str(registry))
    start = ("rollout", f"{MODEL}:2", "--canary", "10%", "--reason", "try")
    code, out, _ = run(capsys, *start, *where)
    assert code == 0
    assert out.startswith("digits: started the canary of digits:2 on 0.1 of production (v1)")
    code, out, _ = run(capsys, "rollout", MODEL, "--json", *where)
    assert (code, json.loads(out)["candidate"], json.loads(out)["share"]) == (0, 2, 0.1)

    code, out, _ = run(capsys, "promote", f"{MODEL}:2", "--reason", "canary held", *where)

    assert code == 0
    assert "rollout_promoted" in out and "production moved from 1 to 2" in out
    assert read_rollout(registry, MODEL) is None
    assert read_labels(registry)[MODEL] == {"production": 2}
    events = [event["event"] for event in read_events(registry, MODEL)]
    assert events[-3:] == ["rollout_started", "promoted", "rollout_promoted"]
    assert verify_chain(registry, MODEL) == []


def test_shadow_then_stop(registry: Path, capsys: pytest.CaptureFixture) -> None:
    where = ("--registry", str(registry))
    code, out, _ = run(capsys, "rollout", f"{MODEL}:2", "--shadow", "--reason", "look", *where)
    assert code == 0 and "shadow of digits:2 on 1 of production" in out
    code, out, _ = run(capsys, "rollout", MODEL, "--stop", "--reason", "enough", *where)
    assert (code, out) == (0, "digits: rollout stopped\n")
    code, out, _ = run(capsys, "rollout", MODEL, *where)
    assert out == "digits: no rollout in progress\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("digits:2", "--canary", "150%", "--reason", "r"), "share '150%' is not a share"),
        (("digits:2", "--canary", "10%"), "a reason is required"),
        (("digits", "--canary", "10%", "--reason", "r"), "say which version to roll out"),
        (("digits:1", "--canary", "10%", "--reason", "r"), "is production already"),
        (("digits", "--stop", "--reason", "r"), "no rollout in progress"),
    ],
)
def test_mistakes_print_one_line_and_exit_1(
    registry: Path, capsys: pytest.CaptureFixture, argv: tuple[str, ...], message: str
) -> None:
    code, _, err = run(capsys, "rollout", *argv, "--registry", str(registry))
    assert code == 1
    assert err.startswith("visionops: error:") and message in err
    assert len(err.strip().splitlines()) == 1
