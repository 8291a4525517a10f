"""What schedulers of one project share on disk: the run lock and the last retrain.

The lock is an exclusive ``flock`` on ``.dvc/tmp/visionops-schedule.lock`` (DVC's own
scratch folder, ignored by git), held around each retrain. The kernel drops it when
its holder dies, so a killed scheduler never leaves the project locked. The holder
writes its pid into the file, so a scheduler that finds it taken can say by whom.
"""

from __future__ import annotations

import json
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from visionops.errors import ConfigError
from visionops.files import atomic_write_text, locked

LOCK_FILE = Path(".dvc") / "tmp" / "visionops-schedule.lock"


class RunLock:
    """The project's retrain lock: at most one holder across every process."""

    def __init__(self, path: Path) -> None:
        """Creates the lock (not taken yet) on ``path``; its folder is created if needed."""
        self.path = Path(path)
        self._handle: int | None = None
        self._held = ExitStack()

    @property
    def fileno(self) -> int | None:
        """The open descriptor while held (a child given it keeps the lock held), else None."""
        return self._handle

    def acquire(self) -> bool:
        """Takes the lock, or returns False at once if someone holds it."""
        try:
            handle = self._held.enter_context(locked(self.path, wait=False))
        except BlockingIOError:
            return False
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
        self._handle = handle
        return True

    def release(self) -> None:
        """Lets the lock go (the pid is cleared first, so no one reads a stale one)."""
        if self._handle is None:
            return
        os.ftruncate(self._handle, 0)
        self._handle = None
        self._held.close()

    def holder(self) -> int | None:
        """The pid the current holder wrote, or None when unknown."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def read_state(path: Path) -> dict[str, Any]:
    """The recorded state (``fingerprint``, ``retrained_at``, ...); ``{}`` when none.

    Raises:
        ConfigError: The file exists but is not a JSON object.
    """
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"schedule state {path} cannot be read ({error}); delete it and the next tick "
            "records the data's hash again"
        ) from error
    if not isinstance(state, dict):
        raise ConfigError(f"schedule state {path} is not a JSON object; delete it")
    return state


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Replaces the state file atomically: a reader sees the old state or the new one."""
    atomic_write_text(path, json.dumps(state, indent=2, sort_keys=True) + "\n")
