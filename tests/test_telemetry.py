"""Telemetry: off by default in the project files, and an opt-in there holds under make.

Kedro and DVC are asked through their own consent checks, in the environment the
Makefile gives its recipes (``make run``, ``make test``).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from dvc import analytics
from kedro_telemetry.plugin import _check_for_telemetry_consent

ROOT = Path(__file__).parents[1]
# Each of these, set, turns a tool's telemetry off whatever the project files say.
OVERRIDES = ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK", "DVC_NO_ANALYTICS")
GX_VARIABLE = "GX_ANALYTICS_ENABLED"


def make_environment(**user: str) -> dict[str, str]:
    """The environment make gives its recipes, for a user who set ``user`` and nothing else."""
    env = {key: value for key, value in os.environ.items() if key not in (*OVERRIDES, GX_VARIABLE)}
    result = subprocess.run(
        ["make", "-s", "--eval", "recipe-env: ; @env -0", "recipe-env"],
        cwd=ROOT,
        env=env | user,
        capture_output=True,
        check=True,
        timeout=60,
    )
    entries = result.stdout.decode().split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


@pytest.fixture
def under_make(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This process sees the telemetry variables make exports, and no user DVC config."""
    exported = make_environment()
    for name in (*OVERRIDES, GX_VARIABLE, "DVC_TEST"):
        if name in exported:
            monkeypatch.setenv(name, exported[name])
        else:
            monkeypatch.delenv(name, raising=False)
    for level in ("GLOBAL", "SYSTEM"):
        folder = tmp_path / f"dvc-{level.lower()}"
        folder.mkdir()
        monkeypatch.setenv(f"DVC_{level}_CONFIG_DIR", str(folder))


def test_make_sets_nothing_that_overrides_the_project_files() -> None:
    exported = make_environment()
    assert [name for name in OVERRIDES if name in exported] == []
    assert exported[GX_VARIABLE] == "false"


@pytest.mark.parametrize(
    "user", [{GX_VARIABLE: "true"}, {"DO_NOT_TRACK": "1"}, {"DVC_NO_ANALYTICS": "1"}]
)
def test_make_keeps_what_the_user_set(user: dict[str, str]) -> None:
    exported = make_environment(**user)
    assert {name: exported.get(name) for name in user} == user


@pytest.mark.usefixtures("under_make")
def test_telemetry_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _check_for_telemetry_consent(ROOT) is False
    monkeypatch.chdir(ROOT)
    assert not analytics.is_enabled()


@pytest.mark.usefixtures("under_make")
def test_an_opt_in_in_the_project_files_takes_effect(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / ".dvc").mkdir(parents=True)
    (project / ".telemetry").write_text("consent: true\n")
    (project / ".dvc" / "config").write_text("[core]\n    analytics = true\n")
    assert _check_for_telemetry_consent(project) is True
    monkeypatch.chdir(project)
    assert analytics.is_enabled()
