"""Handles a training node writes through while it runs: checkpoints and the live log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset

from visionops.modeling.checkpoint import CheckpointStore, EpochLog


class CheckpointDataset(AbstractDataset[None, CheckpointStore]):
    """Loads a :class:`CheckpointStore` on a folder: where training checkpoints after
    every epoch, and what a rerun resumes from. Not a DVC output, so DVC leaves it in
    place when it reruns a failed stage. Read-only as a dataset."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> CheckpointStore:
        return CheckpointStore(self._path)

    def save(self, data: None) -> None:
        raise NotImplementedError("checkpoints are written by the training loop")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


class LiveLog(EpochLog):
    """Per-epoch metrics logged with DVCLive as they happen, so ``dvc exp show`` and
    ``dvc plots show`` see a run in progress. A resumed run continues the same log.
    The training loop sees it as an :class:`~visionops.modeling.checkpoint.EpochLog`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._live: Any = None

    def log_epoch(self, record: dict[str, float]) -> None:
        """Logs one epoch: every metric for train and val, and the learning rate."""
        if self._live is None:
            from dvclive import Live

            resume = (self.directory / "metrics.json").is_file() and record["epoch"] > 1
            self._live = Live(
                str(self.directory), resume=resume, save_dvc_exp=False, dvcyaml=None, report=None
            )
            self._live.step = int(record["epoch"]) - 1
        for name in ("loss", "accuracy"):
            self._live.log_metric(f"train/{name}", record[name])
            self._live.log_metric(f"val/{name}", record[f"val_{name}"])
        self._live.log_metric("learning_rate", record["learning_rate"])
        self._live.next_step()

    def finish(self) -> None:
        """Closes the log."""
        if self._live is not None:
            self._live.end()


class LiveLogDataset(AbstractDataset[None, LiveLog]):
    """Loads a :class:`LiveLog` writing DVCLive files under ``path``. Read-only."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> LiveLog:
        return LiveLog(self._path)

    def save(self, data: None) -> None:
        raise NotImplementedError("the live log is written by the training loop")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
