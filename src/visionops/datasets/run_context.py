"""Who runs a stage and when: recorded with forced blessings and registrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kedro.io import AbstractDataset

from visionops.registry.events import default_actor


class RunContextDataset(AbstractDataset[None, dict[str, Any]]):
    """Loads ``{"actor": ..., "time": ISO-8601 UTC}`` for the running stage. Read-only."""

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        return {"actor": default_actor(), "time": datetime.now(UTC).isoformat(timespec="seconds")}

    def save(self, data: None) -> None:
        raise NotImplementedError("the run context is read-only")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {}
