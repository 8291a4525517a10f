"""Data as DVC hashes and stores it: md5 of files and folders, the cache, local remotes.

DVC 3 keeps a file with md5 ``M`` at ``<cache>/files/md5/M[:2]/M[2:]``; a folder is a
``.dir`` manifest (a JSON list of ``{"md5", "relpath"}``, sorted by relpath) stored the
same way, its own md5 being that of the manifest's bytes plus ``.dir``. DVC 2 used
``<cache>/M[:2]/M[2:]``, where DVC 3 still keeps some dependency manifests; both are
looked at. A local remote has the same layout as the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# Folders DVC never hashes as part of a dependency or output.
_NEVER_HASHED = {".git", ".hg", ".dvc"}


def file_md5(path: Path) -> str:
    """The md5 DVC 3 records for a file: of its bytes, as they are."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "md5").hexdigest()


def dir_manifest(path: Path) -> bytes:
    """The bytes of the ``.dir`` manifest DVC would store for folder ``path``."""
    entries = []
    for directory, folders, files in os.walk(path):
        folders[:] = [name for name in folders if name not in _NEVER_HASHED]
        for name in files:
            full = Path(directory) / name
            entries.append({"md5": file_md5(full), "relpath": full.relative_to(path).as_posix()})
    entries.sort(key=lambda entry: entry["relpath"])
    return json.dumps(entries, sort_keys=True).encode()


def dvc_md5(path: Path) -> str:
    """The md5 DVC records for ``path``: a file's, or a folder's ``<md5>.dir``.

    Patterns in ``.dvcignore`` are not applied; a folder holding ignored files hashes
    differently from what DVC recorded.
    """
    if path.is_dir():
        return hashlib.md5(dir_manifest(path)).hexdigest() + ".dir"
    return file_md5(path)


@dataclass(frozen=True)
class Storage:
    """Where a project's DVC data may be kept.

    Attributes:
        cache: The project's cache folder.
        remotes: Local remotes by name, each a folder.
        unchecked: Remotes that are not local folders (S3, GCS...), by name: URL.
    """

    cache: Path
    remotes: dict[str, Path] = field(default_factory=dict)
    unchecked: dict[str, str] = field(default_factory=dict)

    def places(self) -> list[tuple[str, Path]]:
        """The cache, then each local remote, as ``(name, folder)``."""
        return [("cache", self.cache), *((f"remote {n}", p) for n, p in self.remotes.items())]


def project_storage(project_dir: Path) -> Storage:
    """The cache and remotes configured for the DVC project at ``project_dir``."""
    from dvc.config import Config  # DVC's own reader resolves relative paths and config.local

    dvc_dir = Path(project_dir) / ".dvc"
    config = Config(dvc_dir=str(dvc_dir)) if dvc_dir.is_dir() else {"cache": {}, "remote": {}}
    cache = Path(config["cache"].get("dir") or dvc_dir / "cache")
    remotes: dict[str, Path] = {}
    unchecked: dict[str, str] = {}
    for name, settings in (config["remote"] or {}).items():
        url = str(settings.get("url", ""))
        if "://" in url and not url.startswith("file://"):
            unchecked[name] = url
        else:
            remotes[name] = Path(url.removeprefix("file://"))
    return Storage(cache=cache, remotes=remotes, unchecked=unchecked)


def stored_copy(folder: Path, md5: str) -> Path | None:
    """The file holding the object ``md5`` under a cache or remote ``folder``, if any."""
    for base in (folder / "files" / "md5", folder):
        candidate = base / md5[:2] / md5[2:]
        if candidate.is_file():
            return candidate
    return None


def check_object(storage: Storage, md5: str) -> tuple[str | None, str]:
    """Looks for the object ``md5`` in the cache and local remotes and rehashes it.

    For a folder (``.dir``) the manifest is rehashed and each file it lists must be
    stored too (found, not rehashed: a folder's files are checked where they are outputs
    of their own).

    Returns:
        Where an intact copy is (``cache`` or ``remote NAME``) and ``""``; or ``None``
        and what is wrong (missing everywhere, or each copy that does not match).
    """
    problems = []
    for name, folder in storage.places():
        copy = stored_copy(folder, md5)
        if copy is None:
            continue
        actual = file_md5(copy)
        if actual != md5.removesuffix(".dir"):
            problems.append(f"the {name} copy {copy} has md5 {actual}")
            continue
        if md5.endswith(".dir"):
            missing = _missing_entries(storage, copy)
            if missing:
                problems.append(
                    f"the {name} manifest {copy} lists {len(missing)} files that are in "
                    f"neither the cache nor a remote, e.g. {missing[0]}"
                )
                continue
        return name, ""
    if not problems:
        where = ", ".join(str(folder) for _, folder in storage.places())
        return None, f"in neither the cache nor a local remote ({where})"
    return None, "; ".join(problems)


def _missing_entries(storage: Storage, manifest: Path) -> list[str]:
    try:
        entries = json.loads(manifest.read_bytes())
    except ValueError:
        return ["(the manifest is not JSON)"]
    return [
        str(entry.get("relpath"))
        for entry in entries
        if not any(stored_copy(folder, str(entry.get("md5"))) for _, folder in storage.places())
    ]


def uncached_outputs(project_dir: Path) -> set[str]:
    """Outputs, metrics and plots that dvc.yaml declares with ``cache: false``."""
    path = Path(project_dir) / "dvc.yaml"
    if not path.is_file():
        return set()
    stages = (yaml.safe_load(path.read_text()) or {}).get("stages") or {}
    uncached = set()
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind) or []:
                if isinstance(entry, dict):
                    uncached |= {p for p, o in entry.items() if (o or {}).get("cache") is False}
    return uncached


def restore_object(storage: Storage, md5: str, target: Path) -> bool:
    """Writes the file or folder ``md5`` from the cache or a local remote to ``target``.

    Returns:
        Whether every file was found.
    """
    places = [folder for _, folder in storage.places()]
    copy = next((c for c in (stored_copy(f, md5) for f in places) if c), None)
    if copy is None:
        return False
    if not md5.endswith(".dir"):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(copy, target)
        return True
    for entry in json.loads(copy.read_bytes()):
        if not restore_object(storage, entry["md5"], target / entry["relpath"]):
            return False
    return True
