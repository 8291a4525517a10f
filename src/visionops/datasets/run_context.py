"""Who runs a stage and when, recorded with forced blessings and registrations, and the
approvals production asks for (conf/base/release.yml), which the deployment obeys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from visionops.registry.events import default_actor
from visionops.registry.release_settings import load_approval_rule


class RunContextDataset(AbstractDataset[None, dict[str, Any]]):
    """Loads ``{"actor": ..., "time": ISO-8601 UTC, "approvals": {"required": N,
    "source": file}}`` for the running stage (run from the project folder). Read-only."""

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        project = Path.cwd()
        rule = load_approval_rule(project)
        source = Path(rule.source)
        if source.is_absolute() and source.is_relative_to(project):
            source = source.relative_to(project)  # the report is a DVC output: no host paths
        return {
            "actor": default_actor(),
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "approvals": {"required": rule.required, "source": str(source)},
        }

    def save(self, data: None) -> None:
        raise NotImplementedError("the run context is read-only")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {}
