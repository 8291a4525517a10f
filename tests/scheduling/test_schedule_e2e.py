"""`visionops schedule` on a real project copy: a small image folder, the real pipeline.

The fixture's first `--once` tick runs the whole pipeline (no data hash recorded, no
model in production), so each test starts from a project with version 1 in production.
The tests run in file order and each adds its own images.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import BIN, copy_project, project_env, run, set_parameters
from visionops.registry.layout import list_versions, read_labels
from visionops.scheduling.runlog import read_log
from visionops.stages import STAGES

from .conftest import records, write_images, write_scheduling_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOURCE = "data/01_raw/shapes"
LOG = "data/08_reporting/schedule.jsonl"
PARAMETERS = {
    "ingestion": {"source": "image_folder", "path": SOURCE, "image_size": [12, 12]},
    "training": {"epochs": 2},
    # Two epochs on 120 images make a weak model; bless it anyway, to see it registered.
    "evaluation": {"min_accuracy": 0.0, "max_accuracy_drop": 1.0, "max_macro_f1_drop": 1.0},
}


def _set_parameters(project: Path) -> None:
    set_parameters(project, PARAMETERS)
    write_scheduling_settings(project, retrain_on_schedule=False, max_model_age_days=30)
    run(project, "git", "add", "--all")
    run(project, "git", "commit", "--quiet", "-m", "a small image folder, two epochs")


def _command(project: Path, *flags: str) -> list[str]:
    return [str(BIN / "visionops"), "schedule", "--project-dir", str(project), *flags]


def _start(project: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _command(project, *flags),
        cwd=project,
        env=project_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _once(project: Path) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """One `--once` tick, and the log records it wrote."""
    seen = len(read_log(project / LOG))
    result = subprocess.run(
        _command(project, "--once"),
        cwd=project,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result, read_log(project / LOG)[seen:]


def _versions(project: Path) -> list[int]:
    return list_versions(project / "registry", "classifier")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy whose source is 3 classes x 40 PNGs, after one scheduled tick."""
    project = copy_project(tmp_path_factory.mktemp("schedule") / "visionops")
    write_images(project / SOURCE, per_class=40, seed=0)
    _set_parameters(project)
    result, _ = _once(project)
    assert result.returncode == 0, result.stderr[-3000:]
    return project


def test_first_tick_runs_the_whole_pipeline_and_registers(project: Path) -> None:
    log = read_log(project / LOG)
    fired = {r["trigger"] for r in log if r["kind"] == "check" and r["decision"] == "retrain"}
    assert fired == {"new_data", "model_age"}
    finished = [r for r in log if r["kind"] == "run"][-1]
    assert finished["details"]["stages"] == list(STAGES)
    assert finished["details"]["version"] == 1
    assert "registered classifier:1" in finished["reason"]
    assert _versions(project) == [1]
    state = json.loads((project / "data/08_reporting/schedule_state.json").read_text())
    assert state["fingerprint"]["files"] == 120


def test_no_new_data_skips_and_says_why(project: Path) -> None:
    result, log = _once(project)
    assert result.returncode == 0, result.stderr[-3000:]
    checks = {r["trigger"]: r for r in log if r["kind"] == "check"}
    assert checks["new_data"]["decision"] == "skip"
    assert checks["new_data"]["reason"].startswith("no new data")
    assert checks["drift"]["reason"].startswith("no drift past the thresholds")
    assert checks["model_age"]["decision"] == "skip"
    (decision,) = [r for r in log if r["kind"] == "decision"]
    assert (decision["decision"], decision["reason"]) == ("skip", "no trigger fired")
    assert [r for r in log if r["kind"] == "run"] == []
    assert "no trigger fired" in result.stderr
    assert _versions(project) == [1]


def test_sigterm_between_ticks_stops_cleanly(project: Path) -> None:
    scheduler = _start(project, "--cron", "*/3 * * * * *")
    try:
        deadline = time.monotonic() + 90
        while len(records(project / LOG, scheduler.pid, "decision")) < 2:
            assert scheduler.poll() is None, scheduler.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no two ticks in 90 s"
            time.sleep(0.2)
        scheduler.send_signal(signal.SIGTERM)
        _, stderr = scheduler.communicate(timeout=60)
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
    assert scheduler.returncode == 0, stderr[-3000:]
    last = records(project / LOG, scheduler.pid)[-1]
    assert (last["kind"], last["reason"]) == ("scheduler", "stopped (SIGTERM)")
    assert "stopped (SIGTERM)" in stderr
    assert "Traceback" not in stderr
    assert records(project / LOG, scheduler.pid, "run") == []


def test_new_images_retrain_and_register_a_new_version(project: Path) -> None:
    write_images(project / SOURCE, per_class=10, seed=1)
    result, log = _once(project)
    assert result.returncode == 0, result.stderr[-3000:]
    new_data = next(r for r in log if r["kind"] == "check" and r["trigger"] == "new_data")
    assert new_data["decision"] == "retrain"
    assert "+30 file(s), now 150" in new_data["reason"]
    finished = [r for r in log if r["kind"] == "run"][-1]
    assert finished["details"]["outcome"] == "succeeded"
    assert finished["details"]["stages"] == list(STAGES)
    assert finished["details"]["version"] == 2
    assert _versions(project) == [1, 2]
    assert read_labels(project / "registry")["classifier"]["production"] == 2
    deployment = json.loads((project / "data/08_reporting/deployment.json").read_text())
    assert (deployment["registered"], deployment["version"]) == (True, 2)


def test_two_schedulers_on_one_project_never_overlap(project: Path) -> None:
    write_images(project / SOURCE, per_class=10, seed=2)
    before = _versions(project)
    schedulers = [_start(project, "--once"), _start(project, "--once")]
    outputs = [scheduler.communicate(timeout=600) for scheduler in schedulers]
    for scheduler, (_, stderr) in zip(schedulers, outputs, strict=True):
        assert scheduler.returncode == 0, stderr[-3000:]
    runs = {s.pid: records(project / LOG, s.pid, "run") for s in schedulers}
    retrained = [
        pid
        for pid, entries in runs.items()
        if any(entry["details"].get("outcome") == "succeeded" for entry in entries)
    ]
    assert len(retrained) == 1, runs
    (skipped,) = set(runs) - set(retrained)
    assert runs[skipped][-1]["decision"] == "skip"
    assert runs[skipped][-1]["reason"] == f"another run holds the lock (pid {retrained[0]})"
    for stdout, stderr in outputs:
        assert "is busy" not in stdout + stderr
        assert "blocked by" not in stdout + stderr
    assert _versions(project) == [*before, before[-1] + 1]
