"""A tick's flow with a fake `dvc repro`: what runs, what is logged, what is recorded."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from visionops.scheduling import service as service_module
from visionops.scheduling import triggers
from visionops.scheduling.checks import Evaluation
from visionops.scheduling.retrain import BUSY, FAILED, SUCCEEDED, RunResult
from visionops.scheduling.service import ScheduleService
from visionops.scheduling.settings import load_settings
from visionops.scheduling.state import LOCK_FILE, RunLock, read_state

from .conftest import records

FINGERPRINT = {"digest": "new", "files": 150, "bytes": 1500, "location": "data/01_raw/x"}
DEPLOYED = {"model_name": "classifier", "registered": True, "version": 2, "reason": "ok"}


class FakeRunner:
    """Stands in for ReproRunner: returns a canned result and counts its runs."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        self.runs = 0
        self.running = False
        self.stops: list[bool] = []

    def run(self, keep_fds: list[int]) -> RunResult:
        self.runs += 1
        assert keep_fds, "the lock's descriptor goes to dvc repro"
        return self.result

    def stop(self, force: bool = False) -> bool:
        self.stops.append(force)
        return True


def _result(outcome: str, **fields: object) -> RunResult:
    base = {"exit_code": 0, "stages": [], "output": "run.log", "seconds": 1.0}
    return RunResult(outcome=outcome, **(base | fields))


@pytest.fixture
def make_service(conf_project: Path, monkeypatch: pytest.MonkeyPatch):
    def make(fires: bool, result: RunResult, wait: bool = False) -> ScheduleService:
        check = (
            triggers.new_data_check(FINGERPRINT, {"digest": "old", "files": 120})
            if fires
            else triggers.new_data_check(FINGERPRINT, FINGERPRINT)
        )
        monkeypatch.setattr(
            service_module, "evaluate", lambda *args: Evaluation([check], FINGERPRINT)
        )
        service = ScheduleService(load_settings(conf_project), wait=wait)
        service.runner = FakeRunner(result)
        return service

    return make


def test_no_trigger_logs_the_reason_and_runs_nothing(make_service) -> None:
    service = make_service(False, _result(SUCCEEDED))
    assert service.tick() == 0
    assert service.runner.runs == 0
    checks = records(service.settings.log, kind="check")
    assert [(c["trigger"], c["decision"]) for c in checks] == [("new_data", "skip")]
    assert checks[0]["reason"].startswith("no new data")
    (decision,) = records(service.settings.log, kind="decision")
    assert (decision["decision"], decision["reason"]) == ("skip", "no trigger fired")
    assert records(service.settings.log, kind="run") == []


def test_successful_retrain_records_the_hash_and_the_version(make_service) -> None:
    stages = ["ingestion", "training", "deployment"]
    service = make_service(True, _result(SUCCEEDED, stages=stages, version=2, deployment=DEPLOYED))
    assert service.tick() == 0
    assert service.runner.runs == 1
    started, finished = records(service.settings.log, kind="run")
    assert started["reason"] == "running dvc repro"
    assert finished["decision"] == "retrain"
    assert "ran ingestion, training, deployment" in finished["reason"]
    assert "registered classifier:2" in finished["reason"]
    assert finished["details"]["stages"] == stages
    state = read_state(service.settings.state)
    assert state["fingerprint"] == FINGERPRINT
    assert state["version"] == 2


def test_up_to_date_pipeline_is_logged_as_such(make_service) -> None:
    service = make_service(True, _result(SUCCEEDED))
    assert service.tick() == 0
    finished = records(service.settings.log, kind="run")[-1]
    assert "ran no stage (the pipeline is up to date)" in finished["reason"]


def test_failed_retrain_exits_1_and_keeps_the_old_hash(make_service) -> None:
    failure = _result(FAILED, exit_code=1, stages=["ingestion"], tail=["ERROR: boom"])
    service = make_service(True, failure)
    assert service.tick() == 1
    finished = records(service.settings.log, kind="run")[-1]
    assert "dvc repro failed with exit code 1" in finished["reason"]
    assert finished["details"]["tail"] == ["ERROR: boom"]
    assert read_state(service.settings.state) == {}


def test_dvc_lock_held_elsewhere_is_a_skip_not_an_error(make_service) -> None:
    service = make_service(True, _result(BUSY, exit_code=255, busy_pid=77))
    assert service.tick() == 0
    finished = records(service.settings.log, kind="run")[-1]
    assert finished["decision"] == "skip"
    assert "another DVC process holds the project (pid 77)" in finished["reason"]
    assert "is busy" not in service.settings.log.read_text()
    assert read_state(service.settings.state) == {}


def test_held_run_lock_skips_naming_the_holder(make_service) -> None:
    service = make_service(True, _result(SUCCEEDED))
    with RunLock(service.settings.project_dir / LOCK_FILE) as other:
        assert other.acquire()
        assert service.tick() == 0
    assert service.runner.runs == 0
    finished = records(service.settings.log, kind="run")[-1]
    assert finished["decision"] == "skip"
    assert finished["reason"] == f"another run holds the lock (pid {os.getpid()})"


def _waiting_logged(log: Path) -> bool:
    try:
        runs = records(log, kind="run")
    except ValueError:  # a record half written
        return False
    return any(run["reason"].startswith("waiting") for run in runs)


def test_wait_waits_for_the_lock_then_checks_again(make_service) -> None:
    service = make_service(True, _result(SUCCEEDED), wait=True)
    other = RunLock(service.settings.project_dir / LOCK_FILE)
    assert other.acquire()
    released = threading.Event()

    def let_go_once_waiting() -> None:
        """Ends the other run once the service has logged that it waits for it."""
        deadline = time.monotonic() + 60  # only stops a test that would hang
        while time.monotonic() < deadline and not _waiting_logged(service.settings.log):
            time.sleep(0.01)
        released.set()
        other.release()

    runs_after_release: list[bool] = []
    run = service.runner.run

    def run_noting_the_lock(keep_fds: list[int]) -> RunResult:
        runs_after_release.append(released.is_set())
        return run(keep_fds)

    service.runner.run = run_noting_the_lock
    threading.Thread(target=let_go_once_waiting, daemon=True).start()
    assert service.tick() == 0
    assert runs_after_release == [True], "dvc repro ran only once the other run let go"
    assert service.runner.runs == 1
    reasons = [r["reason"] for r in records(service.settings.log, kind="run")]
    assert reasons[0].startswith("waiting: another run holds the lock")
    assert len(records(service.settings.log, kind="decision")) == 2  # checked again


def test_stopping_scheduler_starts_no_run(make_service) -> None:
    service = make_service(True, _result(SUCCEEDED))
    service.stopping.set()
    assert service.tick() == 0
    assert service.runner.runs == 0
    assert records(service.settings.log, kind="run")[-1]["reason"] == "stopping: no new run"


def test_signals_stop_between_runs_then_interrupt_then_kill(make_service) -> None:
    service = make_service(False, _result(SUCCEEDED))
    service._on_signal(signal.SIGTERM, None)
    assert service.stopping.is_set()
    assert service.runner.stops == []  # a run in progress may finish
    service._on_signal(signal.SIGINT, None)
    service._on_signal(signal.SIGTERM, None)
    assert service.runner.stops == [False, True]  # interrupted, then killed
    assert service.run_once() == 0
    stopped = records(service.settings.log, kind="scheduler")[-1]
    assert stopped["reason"] == "stopped (SIGTERM, SIGINT, SIGTERM)"
