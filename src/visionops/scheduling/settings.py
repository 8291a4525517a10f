"""The schedule's settings: ``conf/base/scheduling.yml``, then conf/local, then flags.

The file is not a Kedro config kind (Kedro's loader knows only its own patterns), so it
is read with :func:`visionops.config.read_settings_file`: conf/local/scheduling.yml, when
present, is laid over conf/base/scheduling.yml key by key, and the command's flags over both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from visionops.config import read_settings_file
from visionops.errors import ConfigError

SETTINGS_FILE = "scheduling.yml"
TRIGGERS = ("new_data", "drift", "model_age", "live_drift", "live_accuracy")
DEFAULTS: dict[str, Any] = {
    "cron": "0 3 * * *",
    "retrain_on_schedule": False,
    "triggers": dict.fromkeys(TRIGGERS, True),
    "max_model_age_days": 30,
    "drift_max_distance": None,
    "live_window": "1d",
    "feedback_export": None,
    "log": "data/08_reporting/schedule.jsonl",
    "state": "data/08_reporting/schedule_state.json",
}


@dataclass(frozen=True)
class ScheduleSettings:
    """What ``visionops schedule`` does, resolved against one project.

    Attributes:
        project_dir: The project folder, where ``dvc repro`` runs.
        cron: When the checks run (5 crontab fields, or 6 with seconds first).
        retrain_on_schedule: Whether every tick retrains, whatever the triggers say.
        triggers: Which of :data:`TRIGGERS` may start a retrain.
        max_model_age_days: Age past which the production version is retrained.
        drift_max_distance: One drift threshold for every check; None keeps
            ``data_validation.drift``'s.
        live_window: How far back the live triggers look (``5m``, ``2h``, ``1d``).
        feedback_export: Where a retrain first exports the labelled production images
            (``visionops feedback export --to``), for a source listed in
            ``ingestion.source``; None exports nothing.
        log: The JSONL run log.
        state: The file that keeps the data hash of the last successful retrain.
    """

    project_dir: Path
    cron: str
    retrain_on_schedule: bool
    triggers: dict[str, bool]
    max_model_age_days: float
    drift_max_distance: float | None
    log: Path
    state: Path
    live_window: str = "1d"
    feedback_export: Path | None = None

    def enabled(self, trigger: str) -> bool:
        """Whether ``trigger`` may start a retrain."""
        return self.triggers.get(trigger, False)


def _number(value: Any, name: str, low: float, high: float | None, where: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} in {where} must be a number; got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigError(f"{name} in {where} must be {bounds}; got {value!r}")
    return float(value)


def _triggers(value: Any, where: Path) -> dict[str, bool]:
    if not isinstance(value, dict):
        raise ConfigError(f"triggers in {where} must map {', '.join(TRIGGERS)} to true/false")
    unknown = sorted(set(value) - set(TRIGGERS))
    if unknown:
        raise ConfigError(
            f"triggers in {where} has unknown trigger(s) {', '.join(unknown)}; "
            f"known: {', '.join(TRIGGERS)}"
        )
    merged = DEFAULTS["triggers"] | value
    wrong = [name for name, on in merged.items() if not isinstance(on, bool)]
    if wrong:
        raise ConfigError(f"triggers.{wrong[0]} in {where} must be true or false")
    return merged


def load_settings(project_dir: Path, **overrides: Any) -> ScheduleSettings:
    """Reads the project's schedule settings; ``overrides`` that are not None win.

    Args:
        project_dir: The project folder (the one holding conf/).
        **overrides: Any field of :class:`ScheduleSettings` but ``project_dir``, e.g.
            ``cron`` or ``log`` from the command line.

    Raises:
        ConfigError: The project has no conf/base, or a setting is unknown or invalid.
    """
    project_dir = Path(project_dir)
    conf = project_dir / "conf"
    if not (conf / "base").is_dir():
        raise ConfigError(
            f"{project_dir} is not a visionops project (no conf/base); run the command "
            "from the project folder or pass --project-dir"
        )
    where = conf / "base" / SETTINGS_FILE
    values = DEFAULTS | read_settings_file(where, DEFAULTS, nested=False)
    local = read_settings_file(conf / "local" / SETTINGS_FILE, DEFAULTS, nested=False)
    if "triggers" in local and isinstance(values["triggers"], dict):
        local["triggers"] = values["triggers"] | (local["triggers"] or {})
    values |= local
    cron = values["cron"]
    if not isinstance(cron, str) or not cron.strip():
        raise ConfigError(f"cron in {where} must be a crontab line, e.g. '0 3 * * *'")
    if not isinstance(values["retrain_on_schedule"], bool):
        raise ConfigError(f"retrain_on_schedule in {where} must be true or false")
    for key in ("log", "state"):
        if not isinstance(values[key], str) or not values[key]:
            raise ConfigError(f"{key} in {where} must be a file path")
    drift_max = values["drift_max_distance"]
    if not isinstance(values["live_window"], str) or not values["live_window"].strip():
        raise ConfigError(f"live_window in {where} must be a duration such as '1d' or '2h'")
    export = values["feedback_export"]
    if export is not None and (not isinstance(export, str) or not export):
        raise ConfigError(f"feedback_export in {where} must be a folder path or null")
    settings = ScheduleSettings(
        project_dir=project_dir,
        cron=cron.strip(),
        retrain_on_schedule=values["retrain_on_schedule"],
        triggers=_triggers(values["triggers"], where),
        max_model_age_days=_number(
            values["max_model_age_days"], "max_model_age_days", 0, None, where
        ),
        drift_max_distance=None
        if drift_max is None
        else _number(drift_max, "drift_max_distance", 0, 1, where),
        log=project_dir / values["log"],
        state=project_dir / values["state"],
        live_window=values["live_window"].strip(),
        feedback_export=None if export is None else project_dir / export,
    )
    given = {key: value for key, value in overrides.items() if value is not None}
    for key in ("log", "state"):
        if key in given:
            given[key] = project_dir / given[key]
    return replace(settings, **given)
