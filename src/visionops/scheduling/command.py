"""``visionops schedule``: the command's entry, from parsed flags to an exit status."""

from __future__ import annotations

from pathlib import Path

from visionops.scheduling.cron import cron_trigger
from visionops.scheduling.runlog import configure_stderr_logging
from visionops.scheduling.service import ScheduleService
from visionops.scheduling.settings import load_settings


def schedule_command(
    project_dir: Path, cron: str | None, log: str | None, once: bool, wait: bool
) -> int:
    """Runs the scheduler in the foreground, or one tick with ``once``.

    Args:
        project_dir: The project folder.
        cron: Overrides ``cron`` of scheduling.yml when given.
        log: Overrides ``log`` of scheduling.yml when given (relative to the project).
        once: Run the checks (and the retrain, if any) once, then exit.
        wait: When another run holds the lock, wait for it instead of skipping.

    Returns:
        The exit status: 1 when a ``once`` retrain failed, else 0.

    Raises:
        ConfigError: The settings or the cron expression are invalid.
    """
    settings = load_settings(project_dir, cron=cron, log=log)
    cron_trigger(settings.cron)  # a bad expression fails before anything runs
    configure_stderr_logging()
    service = ScheduleService(settings, wait=wait)
    return service.run_once() if once else service.serve_forever()
