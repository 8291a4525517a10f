"""The project's entry points: the Kedro registry, the console script, telemetry defaults."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_kedro_registry_lists_the_six_pipelines() -> None:
    result = _run(str(BIN / "kedro"), "registry", "list")
    assert result.returncode == 0, result.stderr
    listed = {
        line.strip("- ").strip() for line in result.stdout.splitlines() if line.startswith("-")
    }
    assert listed == {
        "__default__",
        "ingestion",
        "data_validation",
        "data_processing",
        "training",
        "evaluation",
        "deployment",
    }


def test_console_script_has_help_and_a_version() -> None:
    result = _run(str(BIN / "visionops"), "--help")
    assert result.returncode == 0
    assert "usage: visionops" in result.stdout
    assert "models" in result.stdout
    version = _run(str(BIN / "visionops"), "--version")
    assert version.stdout.startswith("visionops ")


def test_models_list_on_a_missing_registry_says_so(tmp_path: Path) -> None:
    result = _run(str(BIN / "visionops"), "models", "list", "--registry", str(tmp_path / "none"))
    assert result.returncode == 0
    assert "no models registered" in result.stdout


def test_telemetry_is_off_by_default() -> None:
    assert (ROOT / ".telemetry").read_text().strip() == "consent: false"
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    assert config["core"]["analytics"] == "false"
    makefile = (ROOT / "Makefile").read_text()
    assert "GX_ANALYTICS_ENABLED ?= false" in makefile


def test_dvc_remote_is_a_local_directory_outside_the_work_tree() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    remote = config["core"]["remote"]
    url = config[f"'remote \"{remote}\"'"]["url"]
    resolved = (ROOT / ".dvc" / url).resolve()
    assert ROOT.resolve() not in resolved.parents
