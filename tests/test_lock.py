"""The lock pins every package and every file of it, and make installs nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LOCKS = ("requirements.lock", "requirements-bootstrap.lock", "requirements-orchestrators.lock")


def _requirements(path: Path) -> dict[str, list[str]]:
    """Each requirement of a hashed lock, with its hashes."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    entries = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            requirement, *options = line.split()
            entries[requirement] = [o.removeprefix("--hash=") for o in options]
    return entries


@pytest.mark.parametrize("name", LOCKS)
def test_every_requirement_is_pinned_with_sha256_hashes(name: str) -> None:
    entries = _requirements(ROOT / name)
    assert entries
    for requirement, hashes in entries.items():
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+", requirement), requirement
        assert hashes, f"{requirement} has no --hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), requirement


def test_the_project_and_its_tools_are_locked() -> None:
    names = {r.split("==")[0] for r in _requirements(ROOT / "requirements.lock")}
    for needed in ("tensorflow", "kedro", "dvc", "great-expectations", "kedro-viz", "pytest"):
        assert needed in names
    assert "visionops" not in names, "the project itself is installed from the tree"
    assert {r.split("==")[0] for r in _requirements(ROOT / "requirements-bootstrap.lock")} == {"uv"}


def test_make_installs_only_hash_checked_files() -> None:
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    installs = [line for line in makefile.splitlines() if "pip install" in line]
    locked = [line for line in installs if "-r requirements" in line]
    assert len(locked) == 2, installs
    assert all("--require-hashes" in install for install in locked)
