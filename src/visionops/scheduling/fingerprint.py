"""A data source's content hash: what the new-data trigger compares between ticks."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from visionops.errors import ConfigError, SourceError
from visionops.sources.digits import digits_file

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Fingerprint:
    """The content hash of a source, and what it covered.

    Attributes:
        digest: sha256 over the sorted (relative name, size, md5) of every file.
        files: How many files were hashed.
        bytes: Their total size.
        location: The file or folder hashed.
    """

    digest: str
    files: int
    bytes: int
    location: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, for the run log and the state file."""
        return {
            "digest": self.digest,
            "files": self.files,
            "bytes": self.bytes,
            "location": self.location,
        }


def _md5(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "md5").hexdigest()


def _listing(path: Path) -> list[tuple[str, int, str]]:
    if path.is_file():
        return [(path.name, path.stat().st_size, _md5(path))]
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return [(p.relative_to(path).as_posix(), p.stat().st_size, _md5(p)) for p in files]


def fingerprint_path(path: Path, source: str = "") -> Fingerprint:
    """Hashes a file, or every file under a folder (names, sizes and md5 of contents).

    The hash changes when a file is added, removed, renamed or edited, and with
    ``source``, so switching the reader of the same path counts as new data. File
    times are left out: copying the data elsewhere keeps its hash.

    Raises:
        SourceError: ``path`` does not exist.
    """
    if not path.exists():
        raise SourceError(f"data source {path} does not exist")
    listing = _listing(path)
    payload = json.dumps({"source": source, "files": listing}, separators=(",", ":"))
    return Fingerprint(
        digest=hashlib.sha256(payload.encode()).hexdigest(),
        files=len(listing),
        bytes=sum(size for _, size, _ in listing),
        location=str(path),
    )


def source_location(project_dir: Path, ingestion: dict[str, Any]) -> Path:
    """The file or folder that holds the source named by the ingestion parameters.

    Raises:
        ConfigError: A source other than digits has no ``path``.
    """
    source = ingestion.get("source", "digits")
    if source == "digits":
        return digits_file()
    path = ingestion.get("path")
    if not path:
        raise ConfigError(f"ingestion.path must name the {source} source's location")
    return Path(project_dir) / path  # an absolute path stays as it is


def fingerprint_source(project_dir: Path, ingestion: dict[str, Any]) -> Fingerprint:
    """Hashes the source(s) the ingestion parameters name (image folder, NPZ, CIFAR-10
    folder, or scikit-learn's digits file; every one of a list, in order).

    Raises:
        ConfigError: The parameters name no location.
        SourceError: A location does not exist.
    """
    source = ingestion.get("source", "digits")
    if isinstance(source, list):
        from visionops.sources import source_entries

        parts = [
            fingerprint_source(project_dir, {"source": name, "path": str(where)})
            if where is not None
            else fingerprint_source(project_dir, {"source": name})
            for name, where in source_entries(source, ingestion.get("path"))
        ]
        payload = json.dumps([part.digest for part in parts])
        return Fingerprint(
            digest=hashlib.sha256(payload.encode()).hexdigest(),
            files=sum(part.files for part in parts),
            bytes=sum(part.bytes for part in parts),
            location=", ".join(part.location for part in parts),
        )
    source = str(source)
    location = source_location(project_dir, ingestion)
    fingerprint = fingerprint_path(location, source)
    if location.is_relative_to(project_dir):  # say data/01_raw/pets, not /srv/.../pets
        return replace(fingerprint, location=location.relative_to(project_dir).as_posix())
    return fingerprint
