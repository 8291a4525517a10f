"""``visionops monitor`` and ``visionops feedback import|export|purge``: from flags to output."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from visionops.config import read_parameters
from visionops.monitoring.settings import load_monitoring_settings, parse_since

REPORT_FOLDER = "data/08_reporting/monitoring"


def _model(project_dir: Path, model: str | None) -> str:
    return model or str(read_parameters(project_dir)["model_name"])


def _describe(figures: dict[str, Any]) -> list[str]:
    lines = [
        f"{figures['model']}:{figures['version']}  {figures['images']} images in "
        f"{figures['requests']} requests, {figures['window']['since']} .. "
        f"{figures['window']['until']}  (against {figures['reference']})"
    ]
    for check in figures["input_drift"]["checks"]:
        value = check.get("distance", check.get("share"))
        lines.append(f"  input drift {check['check']}: {value:.3f} [{check['status']}]")
    if note := figures["input_drift"].get("note"):
        lines.append(f"  input drift: {note}")
    classes = figures["class_distribution"]
    if "distance" in classes:
        lines.append(f"  predicted class shares: {classes['distance']:.3f} [{classes['status']}]")
    confidence = figures["confidence"]
    if confidence["mean"] is not None:
        lines.append(f"  mean confidence: {confidence['mean']:.3f} [{confidence['status']}]")
    accuracy = figures["accuracy"]
    if accuracy["accuracy"] is not None:
        lines.append(
            f"  live accuracy: {accuracy['accuracy']:.3f} on {accuracy['labels']} labels "
            f"[{accuracy['status']}]"
        )
    else:
        lines.append("  live accuracy: no feedback label in the window")
    for alert in figures["alerts"]:
        lines.append(f"ALERT {alert['check']}: {alert['detail']}")
    if not figures["alerts"]:
        lines.append("no alert")
    return lines


def monitor_command(
    project_dir: Path,
    registry: Path,
    model: str | None,
    since: str | None,
    as_json: bool,
    report: Path | None,
) -> int:
    """Prints the live figures of the production version (one JSON object with ``--json``)
    and writes the report; returns 0.

    Raises:
        ConfigError: Bad settings or ``--since``, or no model in production.
    """
    from visionops.monitoring.monitor import monitor
    from visionops.monitoring.report import write_report

    settings = load_monitoring_settings(project_dir)
    start = parse_since(since or settings.since, datetime.now(UTC))
    monitored = monitor(settings, registry, _model(project_dir, model), start)
    page = write_report(monitored, report or project_dir / REPORT_FOLDER)
    if as_json:
        print(json.dumps({**monitored.figures, "report": str(page)}, indent=2))
    else:
        print("\n".join([*_describe(monitored.figures), f"report: {page}"]))
    return 0


def feedback_import_command(
    project_dir: Path, registry: Path, model: str | None, path: Path
) -> int:
    """Records the labels of a CSV file, sent by the user running the command.

    Raises:
        FeedbackError: The file or a label set is refused; nothing was recorded.
    """
    from visionops.monitoring.feedback import FeedbackStore, read_feedback_csv, scan_log
    from visionops.monitoring.reference import version_reference
    from visionops.registry.events import default_actor
    from visionops.registry.layout import version_dir

    settings = load_monitoring_settings(project_dir)
    name = _model(project_dir, model)
    items = read_feedback_csv(path)
    logged = scan_log(settings.log.folder, name)

    def class_names(version: int) -> tuple[str, ...] | None:
        return version_reference(version_dir(registry, name, version), name, version).class_names

    results = FeedbackStore(settings.log.folder, name).submit(
        items, default_actor(), f"csv:{Path(path).name}", logged.get, class_names
    )
    recorded = sum(1 for result in results if result["status"] == "recorded")
    print(
        f"{recorded} label set(s) recorded for {name}, {len(results) - recorded} already "
        f"recorded (no change), from {path}"
    )
    return 0


def feedback_export_command(project_dir: Path, model: str | None, target: Path) -> int:
    """Writes the labelled production images as an image folder at ``target``.

    Raises:
        ConfigError: There is nothing to export.
    """
    from visionops.monitoring.export import export_feedback

    settings = load_monitoring_settings(project_dir)
    manifest = export_feedback(settings.log.folder, _model(project_dir, model), target)
    classes = ", ".join(f"{name}: {count}" for name, count in manifest["images_per_class"].items())
    print(
        f"exported {manifest['images']} labelled image(s) from {len(manifest['segments'])} "
        f"segment(s) to {target} ({classes}); list it in ingestion.source to train on it"
    )
    return 0


def feedback_purge_command(project_dir: Path, older_than: str | None) -> int:
    """Removes predictions and labels older than the retention period (or ``older_than``).

    Raises:
        ConfigError: Bad settings or ``older_than``.
    """
    from visionops.monitoring.retention import purge

    settings = load_monitoring_settings(project_dir)
    now = datetime.now(UTC)
    if older_than:
        cutoff = parse_since(older_than, now)
    else:
        cutoff = now - timedelta(days=settings.retention_days)
    details = purge(settings.log.folder, cutoff)
    labels = sum(details["label_sets"].values())
    print(
        f"purged {len(details['segments'])} segment(s) ({details['rows']} rows) and {labels} "
        f"label set(s) older than {cutoff.isoformat()} from {settings.log.folder}"
        + ("; recorded in events.jsonl" if details["segments"] or labels else "")
    )
    return 0
