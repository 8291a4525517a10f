"""What a training run writes as it goes: its resumable state (one file per finished
epoch, replaced atomically) and, through :class:`EpochLog`, each epoch's metrics."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from visionops.errors import ConfigError
from visionops.files import atomic_file

logger = logging.getLogger(__name__)

STATE_FILE = "state.npz"


class EpochLog(Protocol):
    """Where per-epoch metrics go as they happen (DVCLive in the pipeline)."""

    def log_epoch(self, record: dict[str, float]) -> None: ...

    def finish(self) -> None: ...


@dataclass
class TrainingState:
    """Everything a resumed run needs to continue as if never stopped.

    Attributes:
        epoch: Epochs finished.
        model_variables: Every model variable (weights, batch-norm statistics, dropout
            random state), in ``model.variables`` order.
        optimizer_variables: The optimizer's variables (step count, moments), in
            ``optimizer.variables`` order.
        best_variables: The model variables at the best epoch so far, for early stopping.
        history: One record per finished epoch.
        progress: Early stopping's counters and the run's fingerprint.
    """

    epoch: int
    model_variables: list[np.ndarray]
    optimizer_variables: list[np.ndarray]
    best_variables: list[np.ndarray]
    history: list[dict[str, float]]
    progress: dict[str, Any]


class CheckpointStore:
    """A folder holding the latest :class:`TrainingState` of one training run."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @property
    def path(self) -> Path:
        """The state file."""
        return self.directory / STATE_FILE

    def save(self, state: TrainingState) -> None:
        """Writes ``state`` beside the old one and renames it into place."""
        self.directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "meta": np.asarray(
                json.dumps(
                    {"epoch": state.epoch, "history": state.history, "progress": state.progress}
                )
            )
        }
        for prefix, values in (
            ("model", state.model_variables),
            ("optimizer", state.optimizer_variables),
            ("best", state.best_variables),
        ):
            arrays.update({f"{prefix}_{index:05d}": value for index, value in enumerate(values)})
        with atomic_file(self.path, prefix=".state.") as stream:
            np.savez(stream, **arrays)

    def load(self) -> TrainingState | None:
        """The saved state, or None when there is none.

        Raises:
            ConfigError: The state file exists but cannot be read.
        """
        if not self.path.is_file():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as archive:
                meta = json.loads(str(archive["meta"]))
                groups: dict[str, list[np.ndarray]] = {"model": [], "optimizer": [], "best": []}
                for key in sorted(archive.files):
                    prefix = key.split("_", 1)[0]
                    if prefix in groups:
                        groups[prefix].append(archive[key])
        except (OSError, ValueError, KeyError) as error:
            raise ConfigError(
                f"training checkpoint {self.path} cannot be read ({error}); delete it to "
                "start the training over"
            ) from error
        return TrainingState(
            epoch=int(meta["epoch"]),
            model_variables=groups["model"],
            optimizer_variables=groups["optimizer"],
            best_variables=groups["best"],
            history=list(meta["history"]),
            progress=dict(meta["progress"]),
        )

    def clear(self) -> None:
        """Deletes the state: the run finished."""
        shutil.rmtree(self.directory, ignore_errors=True)
