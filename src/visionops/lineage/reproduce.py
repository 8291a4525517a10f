"""Exact reproduction of a registered version: rerun its pipeline from its commit and data.

1. A temporary ``git worktree`` is checked out at the record's commit. A record made
   from a dirty tree is refused (its code is not in any commit), unless the only change
   was ``dvc.lock``, which ``dvc repro`` itself rewrites as each stage finishes: every
   version registered by ``dvc repro`` from a clean commit carries that mark.
2. The worktree uses the original project's DVC cache (``cache.dir`` in its
   ``.dvc/config.local``) and its local remotes by absolute path, so no cache is copied.
3. Every input the record lists (a dependency no recorded stage produces) is made
   available with its recorded md5: as the commit has it, else from the original
   project when its copy still matches, else from the DVC cache or a local remote.
   This works from the record alone, whatever ``.dvc`` files the commit holds.
4. ``dvc repro --force`` runs there, with ``registry_root`` in its ``params.yaml``
   pointing at an empty registry of its own, so the real registry is untouched.
5. The new weights' sha256 is compared with the record's, and the worktree's dvc.lock
   with the record's stages (see :mod:`visionops.lineage.compare`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from visionops.config import PARAMS_FILE
from visionops.errors import VisionOpsError
from visionops.lineage.compare import input_paths, stage_differences, weights_sha256
from visionops.lineage.dvc_store import Storage, dvc_md5, project_storage, restore_object
from visionops.lineage.record import NOT_RECORDED, load_record
from visionops.lineage.sources import dvc_lock_stages
from visionops.stages import STAGES

# Changes to these files leave a run's inputs as committed: DVC writes them while it runs.
WRITTEN_BY_DVC = frozenset({"dvc.lock"})
_MAX_CHANGED_FILES = 20  # git_state keeps at most this many names


class ReproductionError(VisionOpsError):
    """A version cannot be reproduced as asked: say why and what would allow it."""


@dataclass
class Reproduction:
    """The outcome of :func:`reproduce`.

    Attributes:
        identical: Whether the rerun's weights have the recorded sha256.
        recorded_weights: The record's ``training.weights_sha256``.
        reproduced_weights: The rerun's, or ``None`` when it wrote none.
        differences: Recorded inputs and outputs whose md5 differs in the rerun.
        notes: What was done that a reader should know (dirty mark, restored inputs).
        worktree: Where the rerun is, when kept.
    """

    identical: bool
    recorded_weights: str
    reproduced_weights: str | None
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    worktree: Path | None = None


def reproduce(
    root: Path,
    model: str,
    version: int,
    project_dir: Path,
    *,
    keep: bool = False,
    allow_dirty: bool = False,
    until: str | None = None,
) -> Reproduction:
    """Reruns the pipeline that produced ``model`` version ``version`` and compares.

    Args:
        root: The registry.
        model: The model's name.
        version: The version to reproduce.
        project_dir: The git and DVC project the version was made in.
        keep: Leave the worktree (and its log, ``repro.log`` beside it) in place.
        allow_dirty: Reproduce from the commit even if the record's tree was dirty.
        until: Stop after this DVC stage (default: the whole pipeline).

    Raises:
        ReproductionError: The record cannot be reproduced exactly, or the rerun failed.
    """
    record = load_record(root, model, version)
    recorded = (record.get("training") or {}).get("weights_sha256")
    if not recorded:
        raise ReproductionError(
            f"{model}:{version} records no training.weights_sha256: nothing to compare with"
        )
    if until is not None and until not in STAGES:
        raise ReproductionError(f"--until {until!r}: not a stage; the stages: {', '.join(STAGES)}")
    ran = STAGES[: STAGES.index(until) + 1] if until else STAGES
    notes = check_reproducible(record, f"{model}:{version}", allow_dirty)
    project = Path(project_dir).resolve()
    commit = record["code"]["commit"]
    try:
        _git(project, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    except ReproductionError as error:
        raise ReproductionError(
            f"commit {commit[:12]} of {model}:{version} is not in a git repository at "
            f"{project}: pass the project it was made in with --project-dir"
        ) from error
    workspace = Path(tempfile.mkdtemp(prefix="visionops-reproduce-"))
    worktree = workspace / "worktree"
    try:
        _git(project, "worktree", "add", "--detach", "--quiet", str(worktree), commit)
        storage = project_storage(project)
        _configure(worktree, project, storage, workspace / "registry")
        notes += restore_inputs(record, project, worktree, storage)
        _run_pipeline(worktree, workspace / "repro.log", until)
        reproduced = weights_sha256(worktree)
        result = Reproduction(
            identical=reproduced == recorded,
            recorded_weights=recorded,
            reproduced_weights=reproduced,
            differences=stage_differences(record, dvc_lock_stages(worktree), worktree, ran),
            notes=notes,
            worktree=worktree if keep else None,
        )
    finally:
        if not keep:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(worktree)],
                cwd=project,
                capture_output=True,
                check=False,
            )
            shutil.rmtree(workspace, ignore_errors=True)
    return result


def check_reproducible(record: dict[str, Any], name: str, allow_dirty: bool) -> list[str]:
    """Whether the record's commit holds the code that made it; notes on what was let pass.

    Raises:
        ReproductionError: No commit, or a dirty tree (beyond dvc.lock) without
            ``allow_dirty``.
    """
    code = record.get("code") if isinstance(record.get("code"), dict) else {}
    if not code.get("commit"):
        raise ReproductionError(
            f"{name} cannot be reproduced exactly: its record has no git commit (it was "
            "not made in a git work tree, or the record predates commits)"
        )
    changed = [line.split(maxsplit=1)[-1] for line in code.get("changed_files") or []]
    if code.get("dirty") is False:
        return []
    only_lock = (
        code.get("dirty") is True
        and 0 < len(changed) < _MAX_CHANGED_FILES
        and set(changed) <= WRITTEN_BY_DVC
    )
    if only_lock:
        return [f"the tree differed from commit {code['commit'][:12]} only in dvc.lock"]
    if allow_dirty:
        return [f"the record's tree was dirty ({', '.join(changed) or 'unknown'}): --allow-dirty"]
    raise ReproductionError(
        f"{name} cannot be reproduced exactly: it was made from a dirty tree (changed: "
        f"{', '.join(changed) or NOT_RECORDED}), so commit {code['commit'][:12]} is not "
        "its code. Pass --allow-dirty to rerun from the commit anyway"
    )


def _git(project: Path, *args: str) -> None:
    done = subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ReproductionError(
            f"git {' '.join(args)} failed in {project}: {done.stderr.strip() or done.stdout}"
        )


def _configure(worktree: Path, project: Path, storage: Storage, registry: Path) -> None:
    """Points the worktree at the original cache and remotes, and at its own registry."""
    from dvc.config import Config

    if not (worktree / ".dvc").is_dir():
        raise ReproductionError(f"the commit checked out at {worktree} is not a DVC project")
    with Config(dvc_dir=str(worktree / ".dvc")).edit("local") as config:
        config["cache"]["dir"] = str((project / storage.cache).resolve())
        for name, folder in storage.remotes.items():
            config["remote"][name] = {"url": str((project / folder).resolve())}
    params = worktree / PARAMS_FILE
    values = (yaml.safe_load(params.read_text()) or {}) if params.is_file() else {}
    if "registry_root" in values:
        values["registry_root"] = str(registry)
        params.write_text(yaml.safe_dump(values, sort_keys=False))
        return
    # A commit from before registry_root was a parameter read it from conf/ globals.
    local = project / "conf/local/globals.yml"
    values = (yaml.safe_load(local.read_text()) or {}) if local.is_file() else {}
    values["registry_root"] = str(registry)
    target = worktree / "conf/local/globals.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(values, sort_keys=False))


def restore_inputs(
    record: dict[str, Any], project: Path, worktree: Path, storage: Storage
) -> list[str]:
    """Makes every recorded input present with its recorded md5; says what it did."""
    notes = []
    for path, md5 in input_paths(record).items():
        target = worktree / path
        if target.exists() and dvc_md5(target) == md5:
            continue
        original = project / path
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if original.exists() and dvc_md5(original) == md5:
            copy = shutil.copytree if original.is_dir() else shutil.copy2
            target.parent.mkdir(parents=True, exist_ok=True)
            copy(original, target)
            notes.append(f"input {path} copied from the project (md5 {md5})")
        elif restore_object(storage, md5, target):
            notes.append(f"input {path} restored from the DVC cache or remote (md5 {md5})")
        else:
            notes.append(
                f"input {path} (md5 {md5}) is neither in the commit, the project, the DVC "
                "cache nor a local remote: the rerun uses what the commit has"
            )
    return notes


def _run_pipeline(worktree: Path, log: Path, until: str | None) -> None:
    command = [sys.executable, "-m", "dvc", "repro", "--force", *([until] if until else [])]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env |= {"KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "DVC_NO_ANALYTICS": "1"}
    with log.open("w") as stream:
        done = subprocess.run(
            command, cwd=worktree, env=env, stdout=stream, stderr=subprocess.STDOUT, check=False
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise ReproductionError(
            f"the rerun ({' '.join(command[1:])}) failed with exit {done.returncode} (pass "
            f"--keep to inspect {worktree}); the last lines of its log:\n{tail}"
        )
