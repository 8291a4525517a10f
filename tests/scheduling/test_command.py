"""`visionops schedule` from the command line: flags, and errors as one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionops.console import build_parser, main


def test_help_names_the_flags_and_the_seconds_form(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["schedule", "--help"])
    assert exited.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    for flag in ("--project-dir", "--cron", "--once", "--log", "--wait"):
        assert flag in shown
    assert "6 with seconds first" in shown


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--cron", "every day"], "cron 'every day' has 2 field(s)"),
        (["--cron", "0 25 * * *"], "cron '0 25 * * *' is not valid"),
    ],
)
def test_bad_cron_is_one_line_and_exit_1(
    conf_project: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["schedule", "--project-dir", str(conf_project), "--once", *flags])
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith(f"visionops: error: {message}")
    assert "Traceback" not in error
    assert not (conf_project / "data").exists()  # nothing ran, nothing was logged


def test_outside_a_project_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["schedule", "--project-dir", str(tmp_path), "--once"])
    assert exited.value.code == 1
    assert "is not a visionops project" in capsys.readouterr().err
