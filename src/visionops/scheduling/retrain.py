"""A retrain: ``dvc repro`` in the project, its output kept beside the run log.

``dvc repro`` runs only the stages whose deps, params or code changed, so a retrain
with nothing new runs no stage; that is logged, not an error. The command runs in its
own session: a Ctrl-C meant for the scheduler does not cut it short, and the scheduler
decides when (and whether) to stop it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionops.config import load_config

SUCCEEDED = "succeeded"
FAILED = "failed"
BUSY = "busy"
DEPLOYMENT_REPORT = "deployment_report"
# As the Makefile has it: telemetry consent is the project files' (.telemetry,
# .dvc/config), so nothing here overrides it; only GE's variable defaults to off.
QUIET_ENV = {
    "GX_ANALYTICS_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
_STAGE = re.compile(r"Running stage '([^']+)'")
# DVC's repository lock ("Unable to acquire lock") and its per-output locks
# ("'<path>' is busy, it is being blocked by: (PID 123)").
_BUSY = re.compile(r"is busy|Unable to acquire lock|being blocked by", re.IGNORECASE)
_BUSY_PID = re.compile(r"\(PID (\d+)\)")
TAIL_LINES = 15


@dataclass(frozen=True)
class RunResult:
    """What one ``dvc repro`` did.

    Attributes:
        outcome: :data:`SUCCEEDED`, :data:`FAILED`, or :data:`BUSY` (another DVC
            process held the project, so nothing ran).
        exit_code: The command's exit status.
        stages: The stages that ran, in order.
        output: The file holding the command's stdout and stderr.
        seconds: How long it took.
        version: The version the deployment stage registered, if it ran and registered.
        deployment: The deployment report, when the deployment stage ran.
        busy_pid: The DVC process that held the project, when known.
        tail: The output's last lines, when the command failed.
    """

    outcome: str
    exit_code: int
    stages: list[str]
    output: str
    seconds: float
    version: int | None = None
    deployment: dict[str, Any] | None = None
    busy_pid: int | None = None
    tail: list[str] = field(default_factory=list)


def repro_env() -> dict[str, str]:
    """The environment ``dvc repro`` runs with: this Python's bin folder first on PATH
    (for ``kedro``), telemetry off unless the caller's environment says otherwise."""
    bin_dir = Path(sys.executable).parent
    return QUIET_ENV | dict(os.environ) | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def dvc_command() -> list[str]:
    """``dvc`` from this Python's environment when it has one, else from PATH."""
    local = Path(sys.executable).parent / "dvc"
    return [str(local) if local.is_file() else "dvc", "repro"]


def stages_run(output: str) -> list[str]:
    """The stages ``dvc repro`` printed ``Running stage '<name>'`` for."""
    return _STAGE.findall(output)


def busy_holder(output: str) -> tuple[bool, int | None]:
    """Whether DVC refused to run because another DVC process held the project, and its pid."""
    if not _BUSY.search(output):
        return False, None
    pid = _BUSY_PID.search(output)
    return True, int(pid[1]) if pid else None


def read_deployment(project_dir: Path) -> dict[str, Any] | None:
    """The deployment stage's report (version registered, or why none was), if any."""
    path = Path(project_dir) / load_config(project_dir, "catalog")[DEPLOYMENT_REPORT]["filepath"]
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class ReproRunner:
    """Runs ``dvc repro`` in one project, one run at a time, and can stop it."""

    def __init__(self, project_dir: Path, output_dir: Path) -> None:
        """Creates the runner; each run's output goes to a new file in ``output_dir``."""
        self.project_dir = Path(project_dir)
        self.output_dir = Path(output_dir)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """Whether a ``dvc repro`` is in progress."""
        return self._process is not None

    def stop(self, force: bool = False) -> bool:
        """Stops the running command and its children: SIGINT, which lets DVC and Kedro
        unwind and release their locks, or SIGKILL with ``force``. False if none runs."""
        process = self._process
        if process is None:
            return False
        try:
            os.killpg(process.pid, signal.SIGKILL if force else signal.SIGINT)
        except ProcessLookupError:
            return False
        return True

    def run(self, keep_fds: Sequence[int] = ()) -> RunResult:
        """Runs ``dvc repro`` to its end.

        Args:
            keep_fds: Descriptors the command inherits, e.g. the run lock's, so the
                lock stays held while the command runs even if this process dies.
        """
        self.output_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        output = self.output_dir / f"{stamp}-{os.getpid()}.log"
        started = time.monotonic()
        with output.open("wb") as stream:
            self._process = subprocess.Popen(
                dvc_command(),
                cwd=self.project_dir,
                env=repro_env(),
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=tuple(keep_fds),
            )
            try:
                exit_code = self._process.wait()
            finally:
                self._process = None
        seconds = round(time.monotonic() - started, 1)
        text = output.read_text(errors="replace")
        stages = stages_run(text)
        busy, pid = busy_holder(text) if exit_code != 0 else (False, None)
        if busy:
            return RunResult(BUSY, exit_code, stages, str(output), seconds, busy_pid=pid)
        deployment = read_deployment(self.project_dir) if "deployment" in stages else None
        version = (
            (deployment or {}).get("version") if (deployment or {}).get("registered") else None
        )
        return RunResult(
            outcome=SUCCEEDED if exit_code == 0 else FAILED,
            exit_code=exit_code,
            stages=stages,
            output=str(output),
            seconds=seconds,
            version=version,
            deployment=deployment,
            tail=text.splitlines()[-TAIL_LINES:] if exit_code != 0 else [],
        )
