"""Proof that nothing changed since registration: files, audit log, recorded DVC data.

For each version: every file of the SavedModel is rehashed against the record's
``files`` (each changed, missing or extra file is named), the content digest logged
with its ``registered`` event is recomputed, which also covers ``lineage.json`` itself,
and its signature is checked (see :mod:`visionops.release.signing`), against the
``trusted_public_key`` of signing.yml when the project pins one. Each fault is reported
once, by the first of these that names it; the signature's verdict on a fault already
named is a note.
For each model: the audit log's hash chain. For each recorded DVC output: an intact
copy must be in the project's cache or a local remote (rehashed, since DVC does not
re-verify its cache on checkout); outputs that dvc.yaml declares ``cache: false`` are
never stored, and are skipped, saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionops.errors import RegistryError
from visionops.lineage.dvc_store import (
    Storage,
    check_object,
    project_storage,
    uncached_outputs,
)
from visionops.lineage.record import (
    REGISTERING_STAGE,
    load_record,
    recorded_stages,
    resolve_version,
)
from visionops.registry.events import REGISTERED, read_events, verify_chain
from visionops.registry.history import require_model
from visionops.registry.layout import (
    LINEAGE_FILE,
    content_digest,
    file_hashes,
    list_models,
    list_versions,
    version_dir,
)
from visionops.release.layout import SIGNATURE_FILE
from visionops.release.settings import load_trusted_key
from visionops.release.signing import check_signature


@dataclass
class VersionCheck:
    """What was checked about one version and what is wrong with it."""

    model: str
    version: int
    files: int = 0
    outputs: int = 0
    skipped_outputs: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Verification:
    """The outcome of :func:`verify`: per version, per audit log, and overall."""

    versions: list[VersionCheck] = field(default_factory=list)
    chains: dict[str, list[str]] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Every problem, each naming its version or log."""
        found = [f"{c.model}:{c.version}: {p}" for c in self.versions for p in c.problems]
        return found + [f"events log of {m}: {p}" for m, ps in self.chains.items() for p in ps]


def targets(root: Path, reference: str | None) -> list[tuple[str, int]]:
    """The versions ``MODEL``, ``MODEL:VERSION`` or (``None``) the whole registry names.

    Raises:
        RegistryError: The model or version does not exist.
    """
    if reference is None:
        return [(m, v) for m in list_models(root) for v in list_versions(root, m)]
    if ":" in reference or "@" in reference:
        return [resolve_version(root, reference)]
    require_model(root, reference)
    return [(reference, v) for v in list_versions(root, reference)]


def verify(root: Path, versions: list[tuple[str, int]], project_dir: Path) -> Verification:
    """Checks the versions' files, their models' audit logs, and their recorded DVC data."""
    result = Verification()
    storage, uncached = None, set()
    if (Path(project_dir) / ".dvc").is_dir():
        storage, uncached = project_storage(project_dir), uncached_outputs(project_dir)
        result.notes += [
            f"remote {name} ({url}) is not a local folder: not checked"
            for name, url in storage.unchecked.items()
        ]
    else:
        result.notes.append(f"no DVC project at {project_dir}: recorded outputs not checked")
    objects: dict[str, tuple[str | None, str]] = {}
    trusted = load_trusted_key(project_dir)
    for model in dict.fromkeys(model for model, _ in versions):
        result.chains[model] = verify_chain(root, model)
        try:
            events = read_events(root, model)
        except RegistryError:  # verify_chain has named the lines that are wrong
            events = []
        result.events[model] = len(events)
        for version in [v for m, v in versions if m == model]:
            check = VersionCheck(model, version)
            try:
                record = load_record(root, model, version)
            except RegistryError as error:
                check.problems.append(str(error))
                record = {}
            _check_files(version_dir(root, model, version), record, events, check, trusted)
            if storage is not None:
                _check_outputs(record, storage, uncached, objects, check)
            result.versions.append(check)
    return result


def _check_files(
    path: Path,
    record: dict[str, Any],
    events: list[dict[str, Any]],
    check: VersionCheck,
    trusted: Path | None,
) -> None:
    recorded = record.get("files")
    current = file_hashes(path, skip=LINEAGE_FILE)
    # Made after the record was written: the signature check covers it.
    current.pop(SIGNATURE_FILE.as_posix(), None)
    check.files = len(current)
    if isinstance(recorded, dict):
        for relative in sorted(recorded.keys() | current.keys()):
            if relative not in current:
                check.problems.append(f"missing file {relative} (in the record, not on disk)")
            elif relative not in recorded:
                check.problems.append(f"extra file {relative} (on disk, not in the record)")
            elif recorded[relative] != current[relative]:
                check.problems.append(
                    f"changed file {relative}: sha256 {current[relative][:16]}..., recorded "
                    f"{str(recorded[relative])[:16]}..."
                )
    else:
        check.notes.append("no file hashes recorded (an older record)")
    event = next(
        (e for e in events if e.get("event") == REGISTERED and e.get("version") == check.version),
        None,
    )
    logged = ((event or {}).get("details") or {}).get("content_sha256")
    signature, counts = _signature_problems(path, check, trusted)
    if logged is None:
        check.notes.append("no content digest logged at registration")
    elif logged != content_digest(path) and not check.problems:
        if isinstance(recorded, dict) and signature:
            # The signature names what changed: lineage.json, or the signature itself.
            check.problems += signature
            return
        what = LINEAGE_FILE.as_posix() if isinstance(recorded, dict) else "the version's files"
        check.problems.append(
            f"changed {what}: the content digest differs from the one logged at "
            f"registration (event #{event.get('seq')})"
        )
    if not counts:
        check.notes.append("not signed (registered before versions were signed)")
    elif signature and check.problems:
        check.notes.append(f"the signature fails too: {'; '.join(signature)}")
    else:
        check.problems += signature


def _signature_problems(
    path: Path, check: VersionCheck, trusted: Path | None
) -> tuple[list[str], bool]:
    """The signature's problems, each starting ``signature:``, and whether they count.

    An unsigned version counts only where the project pins a trusted key: versions
    registered before signing have no signature. A signature removed later still shows,
    as a changed content digest, which these problems then explain.
    """
    result = check_signature(path, trusted)
    problems = [f"signature: {problem}" for problem in result.problems]
    if not result.signed and trusted is None:
        return problems, False
    if not problems:
        check.notes.append(f"signature intact (key {str(result.fingerprint)[:16]}...)")
    return problems, True


def _check_outputs(
    record: dict[str, Any],
    storage: Storage,
    uncached: set[str],
    objects: dict[str, tuple[str | None, str]],
    check: VersionCheck,
) -> None:
    stages = recorded_stages(record)
    if not stages:
        check.notes.append("no DVC stages recorded (an older record)")
    for stage, entry in stages.items():
        if stage == REGISTERING_STAGE:
            continue  # its lock entry belongs to the run before
        for path, md5 in (entry.get("outs") or {}).items():
            if path in uncached:
                check.skipped_outputs += 1
            elif not isinstance(md5, str):
                check.notes.append(f"{path}: no md5 recorded")
            else:
                if md5 not in objects:
                    objects[md5] = check_object(storage, md5)
                where, problem = objects[md5]
                check.outputs += 1
                if where is None:
                    check.problems.append(f"DVC output {path} of {stage} (md5 {md5}) is {problem}")
    if check.skipped_outputs:
        check.notes.append(
            f"{check.skipped_outputs} outputs with cache: false in dvc.yaml skipped (DVC "
            "never stores them)"
        )
