"""`dvc repro` as a child process, its output read back, and the cross-process lock."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from visionops.scheduling import retrain
from visionops.scheduling.retrain import BUSY, FAILED, SUCCEEDED, ReproRunner
from visionops.scheduling.state import RunLock, read_state, write_state

BUSY_OUTPUT = (
    "ERROR: failed to reproduce 'ingestion': 'data/02_intermediate/raw_dataset.npz' is busy, "
    "it is being blocked by:\n  (PID 4242): dvc repro\n\nIf there are no processes with such "
    "PIDs, you can manually remove '.dvc/tmp/rwlock' and try again.\n"
)


def test_stages_and_busy_holder_are_read_from_dvc_output() -> None:
    output = "Running stage 'ingestion':\n> kedro run\nRunning stage 'training':\n"
    assert retrain.stages_run(output) == ["ingestion", "training"]
    assert retrain.busy_holder(BUSY_OUTPUT) == (True, 4242)
    assert retrain.busy_holder("ERROR: Unable to acquire lock. Most likely ...") == (True, None)
    assert retrain.busy_holder("ERROR: failed to reproduce 'training'") == (False, None)


def test_repro_env_puts_this_python_first_and_leaves_consent_to_the_project_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scheduler's dvc repro honours an opt-in in .telemetry or .dvc/config, as make
    does: it sets none of the variables that override them."""
    for name in ("DO_NOT_TRACK", "KEDRO_DISABLE_TELEMETRY", "DVC_NO_ANALYTICS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "true")  # the user opted in: kept
    env = retrain.repro_env()
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert not {"DO_NOT_TRACK", "KEDRO_DISABLE_TELEMETRY", "DVC_NO_ANALYTICS"} & set(env)
    assert env["GX_ANALYTICS_ENABLED"] == "true"


def _fake_dvc(monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    monkeypatch.setattr(retrain, "dvc_command", lambda: [sys.executable, "-c", script])


def test_run_keeps_the_output_and_reads_the_deployment_report(
    conf_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = conf_project / "data/08_reporting/deployment.json"
    report.parent.mkdir(parents=True)
    report.write_text('{"model_name": "classifier", "registered": true, "version": 4}')
    _fake_dvc(monkeypatch, "print(\"Running stage 'training':\\nRunning stage 'deployment':\")")
    result = ReproRunner(conf_project, tmp_path / "runs").run()
    assert (result.outcome, result.exit_code, result.version) == (SUCCEEDED, 0, 4)
    assert result.stages == ["training", "deployment"]
    assert "Running stage 'training'" in Path(result.output).read_text()


def test_failure_and_busy_are_told_apart(
    conf_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = ReproRunner(conf_project, tmp_path / "runs")
    _fake_dvc(monkeypatch, "import sys; print('ERROR: stage failed'); sys.exit(1)")
    failed = runner.run()
    assert (failed.outcome, failed.exit_code, failed.tail) == (FAILED, 1, ["ERROR: stage failed"])
    _fake_dvc(monkeypatch, f"import sys; sys.stderr.write({BUSY_OUTPUT!r}); sys.exit(255)")
    busy = runner.run()
    assert (busy.outcome, busy.busy_pid, busy.version) == (BUSY, 4242, None)


def test_stop_interrupts_a_running_command_and_force_kills_it(
    conf_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = ReproRunner(conf_project, tmp_path / "runs")
    assert not runner.stop()
    _fake_dvc(monkeypatch, "import time; time.sleep(60)")
    threading.Timer(1.0, runner.stop).start()
    interrupted = runner.run()
    assert interrupted.outcome == FAILED
    # Killed by SIGINT (KeyboardInterrupt, locks released), not done sleeping (exit 0).
    assert interrupted.exit_code == -signal.SIGINT
    deaf = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)"
    _fake_dvc(monkeypatch, deaf)
    threading.Timer(1.0, runner.stop).start()
    threading.Timer(2.0, runner.stop, kwargs={"force": True}).start()
    assert runner.run().exit_code == -signal.SIGKILL


def test_lock_excludes_another_process_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / ".dvc/tmp/visionops-schedule.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from visionops.scheduling.state import RunLock; "
            f"lock = RunLock({str(path)!r}); assert lock.acquire(); print('held', flush=True); "
            "sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = RunLock(path)
        assert not lock.acquire()
        assert lock.holder() == holder.pid
    finally:
        holder.communicate("\n", timeout=30)
    assert lock.acquire()  # released when its holder exited
    lock.release()


def test_state_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert read_state(path) == {}
    write_state(path, {"fingerprint": {"digest": "a"}})
    assert read_state(path) == {"fingerprint": {"digest": "a"}}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
