"""What a registration records about the run that produced it: code, data, parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from visionops.config import read_parameters
from visionops.lineage.sources import dvc_lock_stages, git_state


class LineageSourcesDataset(AbstractDataset[None, dict[str, Any]]):
    """Loads the git commit (and dirty flag), every stage's recorded hashes from
    dvc.lock, and params.yaml, from the project folder. Read-only."""

    def __init__(self, project_dir: str = ".", metadata: dict[str, Any] | None = None) -> None:
        self._project_dir = Path(project_dir)
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        return {
            "code": git_state(self._project_dir),
            "stages": dvc_lock_stages(self._project_dir),
            "parameters": read_parameters(self._project_dir),
        }

    def save(self, data: None) -> None:
        raise NotImplementedError("lineage sources are read-only")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"project_dir": str(self._project_dir)}
