"""Reverse lineage: every registered version whose record used a given piece of data.

A query is an md5 (full, or a prefix of at least 8 hex digits, with or without DVC's
``.dir`` suffix) matched against every dependency and output of every recorded stage;
or a file or folder, hashed as DVC hashes it. A path inside the project matches the
records that name the same path with the same md5, i.e. this exact data at this place;
a path outside the project matches its md5 wherever a record has it.

The records are read directly: 200 versions take a few tens of milliseconds, so no
index is kept that could go stale.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from visionops.errors import VisionOpsError
from visionops.lineage.dvc_store import dvc_md5
from visionops.lineage.record import (
    REGISTERING_STAGE,
    Standing,
    iter_records,
    recorded_stages,
    standings,
)

MIN_PREFIX = 8
_HASH = re.compile(r"[0-9a-f]+(\.dir)?")


@dataclass(frozen=True)
class Query:
    """What to look for: an md5 or its prefix, and a project path when given one.

    Attributes:
        md5: The md5 (or prefix), lowercase, without ``.dir``.
        exact: Whether ``md5`` is a whole md5, not a prefix.
        path: The path relative to the project it must be recorded at; ``None`` to
            match the md5 at any path.
        described: The query in words, for messages.
    """

    md5: str
    exact: bool
    path: str | None
    described: str

    def matches(self, path: str, md5: object) -> bool:
        """Whether a recorded ``path`` with ``md5`` is the data asked for."""
        if not isinstance(md5, str) or (self.path is not None and path != self.path):
            return False
        bare = md5.lower().removesuffix(".dir")
        return bare == self.md5 if self.exact else bare.startswith(self.md5)


@dataclass(frozen=True)
class Use:
    """One version that used the data, and where in its record."""

    model: str
    version: int
    standing: Standing
    matches: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "model": self.model,
            "version": self.version,
            "labels": list(self.standing.labels),
            "in_production": self.standing.in_production,
            "ever_production": self.standing.ever_production,
            "production": self.standing.describe(),
            "matches": self.matches,
        }


def parse_query(text: str, project_dir: Path) -> Query:
    """Turns ``PATH_OR_HASH`` into a :class:`Query`; an existing path wins over a hash.

    Raises:
        VisionOpsError: It is neither an existing path nor an md5 of 8+ hex digits.
    """
    project = Path(project_dir).resolve()
    candidate = Path(text) if Path(text).is_absolute() else Path.cwd() / text
    if candidate.exists():
        md5 = dvc_md5(candidate)
        resolved = candidate.resolve()
        inside = resolved.is_relative_to(project)
        relative = resolved.relative_to(project).as_posix() if inside else None
        where = f"at {relative}" if inside else "at any path (outside the project)"
        return Query(md5.removesuffix(".dir"), True, relative, f"{text} (md5 {md5}, {where})")
    lowered = text.strip().lower()
    if _HASH.fullmatch(lowered):
        bare = lowered.removesuffix(".dir")
        if len(bare) < MIN_PREFIX:
            raise VisionOpsError(
                f"{text!r} is too short to search for: give at least {MIN_PREFIX} hex digits "
                "of an md5, or a path"
            )
        if len(bare) <= 32:
            return Query(bare, len(bare) == 32, None, f"md5 {lowered}")
    raise VisionOpsError(
        f"{text!r} is neither a file or folder (looked at {candidate}) nor an md5: give a "
        f"path, or at least {MIN_PREFIX} hex digits of an md5 from dvc.lock"
    )


def trace(root: Path, query: Query) -> list[Use]:
    """Every version in the registry at ``root`` whose record used the data, in order.

    The registering stage's own dvc.lock entry is left out: it was written by the run
    before, so it describes another version's data.
    """
    uses = []
    standing_by_model: dict[str, dict[int, Standing]] = {}
    for model, version, record in iter_records(root):
        if not record:
            continue
        found = [
            {"stage": stage, "kind": kind, "path": path, "md5": md5}
            for stage, entry in recorded_stages(record).items()
            if stage != REGISTERING_STAGE
            for kind in ("deps", "outs")
            for path, md5 in (entry.get(kind) or {}).items()
            if query.matches(path, md5)
        ]
        if found:
            if model not in standing_by_model:
                standing_by_model[model] = standings(root, model)
            standing = standing_by_model[model].get(version, Standing((), False, False))
            uses.append(Use(model, version, standing, found))
    return uses


def trace_report(query: Query, uses: list[Use]) -> dict[str, Any]:
    """The answer as plain data: the query and each version that used the data."""
    return {"query": asdict(query), "versions": [use.as_dict() for use in uses]}


def render_trace(query: Query, uses: list[Use]) -> str:
    """The answer in words: one line per version, then where its record has the data."""
    if not uses:
        return f"no registered version used {query.described}"
    lines = [f"{len(uses)} version(s) used {query.described}:"]
    for use in uses:
        tags = f"  [{', '.join(use.standing.labels)}]" if use.standing.labels else ""
        lines.append(f"{use.model}:{use.version}{tags}  {use.standing.describe()}")
        lines += [
            f"    {m['stage']} {m['kind'][:-1]} {m['path']}  md5 {m['md5']}" for m in use.matches
        ]
    return "\n".join(lines)
