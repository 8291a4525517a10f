"""Where a run stands: the code commit, the DVC-recorded data, the parameters."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml


def git_state(project_dir: Path) -> dict[str, Any]:
    """The commit checked out and whether tracked files differ from it (dirty).

    dvc.lock does not count: the running ``dvc repro`` itself rewrites it, and what it
    records is kept in the lineage record's ``stages``. Returns ``{"commit": None, ...}``
    outside a git work tree.
    """

    def git(*args: str) -> str | None:
        try:
            finished = subprocess.run(
                ["git", *args],
                cwd=project_dir,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return finished.stdout.strip() if finished.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    changed = [line for line in (status or "").splitlines() if line[3:].strip() != "dvc.lock"]
    return {
        "commit": commit,
        "dirty": bool(changed) if status is not None else None,
        "changed_files": changed[:20],
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
    }


def dvc_lock_stages(project_dir: Path) -> dict[str, Any]:
    """Every stage of dvc.lock with the md5 of each dependency and output, and its params.

    Returns ``{stage: {"deps": {path: md5}, "outs": {path: md5}, "params": {...}}}``;
    empty when there is no dvc.lock.
    """
    path = Path(project_dir) / "dvc.lock"
    if not path.is_file():
        return {}
    lock = yaml.safe_load(path.read_text()) or {}
    stages = {}
    for name, stage in (lock.get("stages") or {}).items():
        stages[name] = {
            "deps": {entry["path"]: entry.get("md5") for entry in stage.get("deps", [])},
            "outs": {entry["path"]: entry.get("md5") for entry in stage.get("outs", [])},
            "params": stage.get("params", {}),
        }
    return stages
