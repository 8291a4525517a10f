"""``visionops schedule``: run the checks on a cron, retrain when a trigger fires.

A tick runs every check, logs each verdict and the tick's decision, and when any
trigger fires runs ``dvc repro`` under the project's run lock. A scheduler that finds
the lock held skips (or, with ``wait``, waits and checks again). SIGTERM or SIGINT
stops the scheduler between runs: a run in progress finishes first; a second signal
interrupts it (SIGINT to ``dvc repro``, so DVC releases its locks), a third kills it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType
from typing import Any

from visionops.errors import VisionOpsError
from visionops.scheduling import triggers
from visionops.scheduling.checks import Evaluation, evaluate
from visionops.scheduling.cron import cron_trigger
from visionops.scheduling.retrain import BUSY, SUCCEEDED, ReproRunner, RunResult
from visionops.scheduling.runlog import CHECK, DECISION, RUN, SCHEDULER, RunLog, now
from visionops.scheduling.settings import ScheduleSettings
from visionops.scheduling.state import LOCK_FILE, RunLock, read_state, write_state

RUNS_FOLDER = "schedule_runs"
POLL_SECONDS = 0.5
LOCK_POLL_SECONDS = 1.0
AT_ONCE = "at once"
WAITED = "waited"


def _describe(result: RunResult, model_version: str | None) -> str:
    ran = ", ".join(result.stages) if result.stages else "no stage (the pipeline is up to date)"
    if result.outcome != SUCCEEDED:
        return (
            f"dvc repro failed with exit code {result.exit_code} after {result.seconds:g}s "
            f"(stages run: {ran}); its output: {result.output}"
        )
    text = f"dvc repro ran {ran} in {result.seconds:g}s"
    if model_version:
        return f"{text}; registered {model_version}"
    if result.deployment is not None:
        return f"{text}; no version registered: {result.deployment.get('reason', 'no reason')}"
    return text


class ScheduleService:
    """One project's scheduler: the checks, the lock, the retrain and the run log."""

    def __init__(self, settings: ScheduleSettings, wait: bool = False) -> None:
        """Creates the service.

        Args:
            settings: The resolved schedule settings.
            wait: When another run holds the lock, wait for it and check again
                instead of skipping.
        """
        self.settings = settings
        self.wait = wait
        self.log = RunLog(settings.log)
        self.lock = RunLock(settings.project_dir / LOCK_FILE)
        self.runner = ReproRunner(settings.project_dir, settings.log.parent / RUNS_FOLDER)
        self.stopping = threading.Event()
        self._signals: list[str] = []

    def _check(self, tick: datetime) -> tuple[Evaluation, triggers.Check]:
        state = read_state(self.settings.state)
        evaluation = evaluate(self.settings, state.get("fingerprint"), tick)
        for check in evaluation.checks:
            self.log.record(CHECK, check.trigger, check.decision, check.reason, check.details, tick)
        decision = triggers.summarize(evaluation.checks)
        self.log.record(
            DECISION, decision.trigger, decision.decision, decision.reason, decision.details, tick
        )
        return evaluation, decision

    def tick(self) -> int:
        """Runs the checks once, and the retrain if a trigger fires.

        Returns:
            1 when a retrain ran and failed, else 0.
        """
        tick = now()
        evaluation, decision = self._check(tick)
        if not decision.fires:
            return 0
        if self.stopping.is_set():
            self.log.record(RUN, decision.trigger, triggers.SKIP, "stopping: no new run", {}, tick)
            return 0
        taken = self._take_lock(decision, tick)
        if taken is None:
            return 0
        try:
            if taken == WAITED:
                evaluation, decision = self._check(tick)  # that run may have done the work
                if not decision.fires:
                    return 0
            return self._retrain(tick, evaluation, decision)
        finally:
            self.lock.release()

    def _take_lock(self, decision: triggers.Check, tick: datetime) -> str | None:
        """Takes the run lock: :data:`AT_ONCE`, :data:`WAITED` (``wait`` only, after
        another run let it go), or None when it was held (logged as a skip)."""
        if self.lock.acquire():
            return AT_ONCE
        holder = self.lock.holder()
        held = f"another run holds the lock (pid {holder or 'unknown'})"
        details = {"lock": str(self.lock.path), "holder_pid": holder}
        if not self.wait:
            self.log.record(RUN, decision.trigger, triggers.SKIP, held, details, tick)
            return None
        self.log.record(RUN, decision.trigger, None, f"waiting: {held}", details, tick)
        while not self.lock.acquire():
            if self.stopping.wait(LOCK_POLL_SECONDS):
                self.log.record(RUN, decision.trigger, triggers.SKIP, "stopping", {}, tick)
                return None
        return WAITED

    def _export_feedback(self, tick: datetime, decision: triggers.Check) -> None:
        """Exports the labelled production images to ``feedback_export`` (if set), so that
        the retrain's ingestion reads them; nothing to export is logged, not an error."""
        target = self.settings.feedback_export
        if target is None:
            return
        from visionops.monitoring.export import export_feedback
        from visionops.monitoring.settings import load_monitoring_settings
        from visionops.scheduling.checks import registry_location

        try:
            _, model = registry_location(self.settings.project_dir)
            folder = load_monitoring_settings(self.settings.project_dir).log.folder
            manifest = export_feedback(folder, model, target)
        except (VisionOpsError, OSError) as error:
            self.log.record(RUN, decision.trigger, None, f"no feedback exported: {error}", {}, tick)
            return
        summary = {key: value for key, value in manifest.items() if key != "items"}
        reason = f"exported {manifest['images']} labelled production image(s) to {target}"
        self.log.record(RUN, decision.trigger, None, reason, summary, tick)

    def _retrain(self, tick: datetime, evaluation: Evaluation, decision: triggers.Check) -> int:
        self._export_feedback(tick, decision)
        self.log.record(RUN, decision.trigger, triggers.RETRAIN, "running dvc repro", {}, tick)
        result = self.runner.run(keep_fds=[self.lock.fileno] if self.lock.fileno else [])
        details: dict[str, Any] = {
            "outcome": result.outcome,
            "exit_code": result.exit_code,
            "stages": result.stages,
            "seconds": result.seconds,
            "output": result.output,
        }
        if result.outcome == BUSY:
            reason = (
                f"another DVC process holds the project (pid {result.busy_pid or 'unknown'}); "
                "nothing ran, the next tick checks again"
            )
            details["holder_pid"] = result.busy_pid
            self.log.record(RUN, decision.trigger, triggers.SKIP, reason, details, tick)
            return 0
        model = (result.deployment or {}).get("model_name")
        model_version = f"{model}:{result.version}" if result.version is not None else None
        details |= {"version": result.version, "deployment": result.deployment}
        if result.outcome == SUCCEEDED:
            state = read_state(self.settings.state)
            if evaluation.fingerprint is not None:
                state["fingerprint"] = evaluation.fingerprint
            state |= {"retrained_at": tick.isoformat(), "stages": result.stages}
            if result.version is not None:
                state["version"] = result.version
            write_state(self.settings.state, state)
        else:
            details["tail"] = result.tail
        reason = _describe(result, model_version)
        self.log.record(RUN, decision.trigger, triggers.RETRAIN, reason, details, tick)
        return 0 if result.outcome == SUCCEEDED else 1

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only flags and a kill here; logging happens outside the handler. The first
        # signal lets a run finish, the second interrupts it, a third kills it.
        self._signals.append(signal.Signals(signum).name)
        if len(self._signals) > 1:
            self.runner.stop(force=len(self._signals) > 2)
        self.stopping.set()

    @contextmanager
    def _signal_handlers(self) -> Iterator[None]:
        signals = (signal.SIGTERM, signal.SIGINT)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in signals}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _stopped(self) -> None:
        received = ", ".join(self._signals) or "no signal"
        self.log.record(SCHEDULER, None, None, f"stopped ({received})", {"signals": self._signals})

    def run_once(self) -> int:
        """One tick, for external schedulers (cron, a Kubernetes CronJob).

        Returns:
            1 when the retrain failed, else 0.
        """
        with self._signal_handlers():
            status = self.tick()
        if self.stopping.is_set():
            self._stopped()
        return status

    def _scheduled_tick(self) -> None:
        try:
            self.tick()
        except (VisionOpsError, OSError) as error:
            self.log.record(DECISION, None, triggers.SKIP, f"tick failed: {error}", {})

    def serve_forever(self) -> int:
        """Ticks on the cron until SIGTERM or SIGINT; returns 0 once stopped."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        trigger = cron_trigger(self.settings.cron)
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        job = scheduler.add_job(self._scheduled_tick, trigger, id="visionops-schedule")
        with self._signal_handlers():
            scheduler.start()
            self.log.record(
                SCHEDULER,
                None,
                None,
                f"started: checks on cron '{self.settings.cron}', next at {job.next_run_time}",
                {"cron": self.settings.cron, "project": str(self.settings.project_dir)},
            )
            while not self.stopping.wait(POLL_SECONDS):
                pass
            if self.runner.running:
                self.log.record(
                    SCHEDULER,
                    None,
                    None,
                    f"stopping after the current run ({self._signals[0]}; send it again to "
                    "interrupt the run)",
                )
            scheduler.shutdown(wait=True)
        self._stopped()
        return 0
