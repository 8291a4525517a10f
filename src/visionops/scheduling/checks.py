"""What the triggers look at: the source's hash, its drift, the production version's age.

The parameters are the ones ``dvc repro`` will run with: ``params.yaml``, read through
:mod:`visionops.config` as every command reads it.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from visionops.config import load_config, read_parameters, registry_root
from visionops.errors import VisionOpsError
from visionops.registry.events import REGISTERED, read_events
from visionops.registry.layout import PRODUCTION, read_labels, version_dir
from visionops.scheduling import triggers
from visionops.scheduling.fingerprint import fingerprint_source
from visionops.scheduling.settings import ScheduleSettings

DRIFT_CHECKS = ("class_distribution", "intensity")


@dataclass(frozen=True)
class Evaluation:
    """One tick's checks, and the source's fingerprint to record if a retrain succeeds."""

    checks: list[triggers.Check]
    fingerprint: dict[str, Any] | None


def project_parameters(project_dir: Path) -> dict[str, Any]:
    """The parameters a ``dvc repro`` of the project runs with."""
    return read_parameters(project_dir)


def ingestion_cache(project_dir: Path) -> Path | None:
    """The ingestion cache the pipeline keeps (the catalog's ``raw_dataset.cache``)."""
    entry = load_config(Path(project_dir), "catalog").get("raw_dataset", {})
    cache = entry.get("cache")
    if not cache:
        return None
    return Path(cache) if Path(cache).is_absolute() else Path(project_dir) / cache


def observe_drift(
    project_dir: Path, parameters: dict[str, Any], max_distance: float | None
) -> dict[str, Any]:
    """Profiles the source and compares it with the drift reference, as data_validation
    does (same reference choice, bins and value range).

    The source is ingested into a temporary dataset version, through the pipeline's
    ingestion cache: files the pipeline ingested already are not decoded again, and
    memory holds a shard at a time, never the source.

    Args:
        project_dir: The project folder.
        parameters: The project's parameters.
        max_distance: One threshold for every drift check; None keeps the parameters'.

    Returns:
        :func:`visionops.validation.gate.check_drift`'s report.
    """
    from visionops.dataplane.cache import IngestCache
    from visionops.dataplane.ingest import make_job
    from visionops.dataplane.reader import ShardedDataset
    from visionops.sources import open_source, resolve_paths
    from visionops.validation.command import reference_location
    from visionops.validation.drift import dataset_profile
    from visionops.validation.gate import check_drift, value_range
    from visionops.validation.reference import load_reference

    params = copy.deepcopy(parameters["data_validation"])
    drift = params.setdefault("drift", {})
    if max_distance is not None:
        for name in DRIFT_CHECKS:
            if isinstance(drift.get(name), dict):
                drift[name]["max_distance"] = max_distance
    ingestion = dict(parameters.get("ingestion", {}))
    path = ingestion.get("path")
    if path and not Path(path).is_absolute():
        path = str(Path(project_dir) / path)
    source = resolve_paths(ingestion.get("source", "digits"), Path(project_dir))
    cache_path = ingestion_cache(project_dir)
    with tempfile.TemporaryDirectory(prefix="visionops-drift-") as scratch:
        target = Path(scratch) / "dataset"
        cache = IngestCache(cache_path, writable=True) if cache_path else None
        make_job(open_source(source, path), ingestion).write(target, cache=cache)
        profile = dataset_profile(
            ShardedDataset(target),
            value_range=value_range(params),
            bins=int(drift.get("bins", 32)),
            chunk_size=int(params.get("chunk_size", 4096)),
        )
    catalog = load_config(project_dir, "catalog")
    reference = load_reference(*reference_location(catalog, Path(project_dir)))
    return check_drift(profile, reference, params)


def registry_location(project_dir: Path) -> tuple[Path, str]:
    """The registry's root folder and the model name, from the project's parameters."""
    parameters = read_parameters(project_dir)
    return registry_root(project_dir, parameters), str(parameters["model_name"])


def registered_at(root: Path, model: str, version: int) -> datetime | None:
    """When ``version`` was registered: its ``registered`` event, else its folder's mtime."""
    for event in reversed(read_events(root, model)):
        if event.get("event") == REGISTERED and event.get("version") == version:
            return datetime.fromisoformat(event["time"])
    folder = version_dir(root, model, version)
    if folder.is_dir():
        return datetime.fromtimestamp(folder.stat().st_mtime, UTC)
    return None


def observe_model_age(project_dir: Path, now: datetime, max_age_days: float) -> triggers.Check:
    """The model-age trigger's verdict on the project's production version."""
    root, model = registry_location(project_dir)
    version = read_labels(root).get(model, {}).get(PRODUCTION)
    when = registered_at(root, model, version) if version is not None else None
    return triggers.model_age_check(model, version, when, now, max_age_days)


def observe_live(project_dir: Path, window: str, now: datetime) -> dict[str, Any]:
    """``visionops monitor``'s figures of the project's production model over ``window``.

    Raises:
        ConfigError: The monitoring settings or the window are invalid, or no model is
            in the registry.
    """
    from visionops.monitoring.monitor import monitor
    from visionops.monitoring.settings import load_monitoring_settings, parse_since

    root, model = registry_location(project_dir)
    settings = load_monitoring_settings(project_dir)
    return monitor(settings, root, model, parse_since(window, now), now).figures


def _live_checks(settings: ScheduleSettings, now: datetime) -> list[triggers.Check]:
    wanted = [triggers.LIVE_DRIFT, triggers.LIVE_ACCURACY]
    if not any(settings.enabled(name) for name in wanted):
        return [triggers.disabled(name) for name in wanted]
    try:
        figures = observe_live(settings.project_dir, settings.live_window, now)
    except (VisionOpsError, OSError, KeyError, ValueError) as error:
        return [
            triggers.failed(name, error) if settings.enabled(name) else triggers.disabled(name)
            for name in wanted
        ]
    judges = {
        triggers.LIVE_DRIFT: triggers.live_drift_check,
        triggers.LIVE_ACCURACY: triggers.live_accuracy_check,
    }
    return [
        judges[name](figures) if settings.enabled(name) else triggers.disabled(name)
        for name in wanted
    ]


def evaluate(
    settings: ScheduleSettings, last_fingerprint: dict[str, Any] | None, now: datetime
) -> Evaluation:
    """Runs every check once. A check that cannot look (a missing source, a bad
    parameter) says so and does not fire; the others still decide."""
    project = settings.project_dir
    checks = [triggers.schedule_check(settings.retrain_on_schedule, settings.cron)]
    fingerprint = parameters = None
    try:
        parameters = project_parameters(project)
        fingerprint = fingerprint_source(project, parameters.get("ingestion", {})).as_dict()
    except (VisionOpsError, OSError) as error:
        checks.append(triggers.failed(triggers.NEW_DATA, error))
    else:
        checks.append(
            triggers.new_data_check(fingerprint, last_fingerprint)
            if settings.enabled(triggers.NEW_DATA)
            else triggers.disabled(triggers.NEW_DATA)
        )
    if not settings.enabled(triggers.DRIFT):
        checks.append(triggers.disabled(triggers.DRIFT))
    else:
        try:
            if parameters is None:  # the new-data check above says why
                parameters = project_parameters(project)
            report = observe_drift(project, parameters, settings.drift_max_distance)
            checks.append(triggers.drift_check(report))
        except (VisionOpsError, OSError, KeyError, ValueError) as error:
            checks.append(triggers.failed(triggers.DRIFT, error))
    if not settings.enabled(triggers.MODEL_AGE):
        checks.append(triggers.disabled(triggers.MODEL_AGE))
    else:
        try:
            checks.append(observe_model_age(project, now, settings.max_model_age_days))
        except (VisionOpsError, OSError, KeyError, ValueError) as error:
            checks.append(triggers.failed(triggers.MODEL_AGE, error))
    checks += _live_checks(settings, now)
    return Evaluation(checks, fingerprint)
