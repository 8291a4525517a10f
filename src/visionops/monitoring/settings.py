"""The production loop's settings: ``conf/base/monitoring.yml``, then conf/local.

Read through :func:`visionops.config.read_settings_file`, as the scheduler's settings
are: conf/local/monitoring.yml, when present, is laid over conf/base/monitoring.yml key
by key. A project without the file gets :data:`DEFAULTS`. Every value is checked once,
here, with a message naming the key and the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from visionops.config import read_layered_settings
from visionops.errors import ConfigError

SETTINGS_FILE = "monitoring.yml"
DEFAULTS: dict[str, Any] = {
    "prediction_log": {
        "enabled": True,
        "folder": "data/09_production",
        "sample_rate": 1.0,
        "capture_images": True,
        "max_log_mb": 2048,
        "queue_size": 10000,
        "segment_records": 2000,
        "segment_seconds": 10,
        "profile_per_second": 200,
    },
    "retention": {"days": 30},
    "monitor": {
        "since": "1d",
        "server_window_minutes": 60,
        "min_predictions": 30,
        "intensity": {"max_distance": 0.1},
        "image_size": {"max_share": 0.05},
        "class_distribution": {"max_distance": 0.2},
        "confidence": {"min_mean": 0.6},
        "accuracy": {"min_accuracy": 0.9, "min_labels": 20},
    },
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class LogSettings:
    """How the server records predictions.

    Attributes:
        enabled: Whether predictions are recorded at all.
        folder: The production folder (predictions, feedback, events), absolute.
        sample_rate: Share of predict requests recorded.
        capture_images: Whether each input's encoded bytes are kept.
        max_log_bytes: Size cap of the stored predictions.
        queue_size: Records waiting for the writer before new ones are dropped.
        segment_records: Records per closed segment, at most.
        segment_seconds: Age of a segment's first record that closes it.
        profile_per_second: Images a second whose pixel value counts the writer
            computes (decoding them); the monitor decodes the other captured ones.
    """

    enabled: bool
    folder: Path
    sample_rate: float
    capture_images: bool
    max_log_bytes: int
    queue_size: int
    segment_records: int
    segment_seconds: float
    profile_per_second: float = 200.0


@dataclass(frozen=True)
class Thresholds:
    """When ``visionops monitor`` raises an alert (see conf/base/monitoring.yml)."""

    min_predictions: int
    intensity_max_distance: float
    image_size_max_share: float
    class_max_distance: float
    min_mean_confidence: float
    min_accuracy: float
    min_labels: int


@dataclass(frozen=True)
class MonitoringSettings:
    """Everything conf/base/monitoring.yml sets, resolved against one project.

    Attributes:
        project_dir: The project folder.
        log: The prediction log's settings.
        retention_days: Age past which ``feedback purge`` removes records.
        since: The default window of ``visionops monitor``.
        server_window_s: The window of the server's drift gauges, in seconds.
        thresholds: The alerts' thresholds.
    """

    project_dir: Path
    log: LogSettings
    retention_days: float
    since: str
    server_window_s: float
    thresholds: Thresholds


class _Checker:
    def __init__(self, values: dict[str, Any], where: Path) -> None:
        self.values, self.where = values, where

    def get(self, dotted: str) -> Any:
        value: Any = self.values
        for part in dotted.split("."):
            value = value[part]
        return value

    def number(self, dotted: str, low: float, high: float | None = None) -> float:
        value = self.get(dotted)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{dotted} in {self.where} must be a number; got {value!r}")
        if value < low or (high is not None and value > high):
            bounds = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
            raise ConfigError(f"{dotted} in {self.where} must be {bounds}; got {value!r}")
        return float(value)

    def whole(self, dotted: str, low: int) -> int:
        value = self.get(dotted)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(
                f"{dotted} in {self.where} must be a whole number of at least {low}; got {value!r}"
            )
        return value

    def flag(self, dotted: str) -> bool:
        value = self.get(dotted)
        if not isinstance(value, bool):
            raise ConfigError(f"{dotted} in {self.where} must be true or false; got {value!r}")
        return value


def load_monitoring_settings(project_dir: Path, folder: Path | None = None) -> MonitoringSettings:
    """Reads the project's monitoring settings (the defaults where it has none).

    Args:
        project_dir: The project folder (the one holding conf/).
        folder: Overrides ``prediction_log.folder`` (e.g. ``visionops serve
            --prediction-log``); relative paths are taken from ``project_dir``.

    Raises:
        ConfigError: A setting is unknown or invalid.
    """
    project_dir = Path(project_dir)
    where = project_dir / "conf" / "base" / SETTINGS_FILE
    values = read_layered_settings(project_dir, SETTINGS_FILE, DEFAULTS)
    check = _Checker(values, where)
    since = check.get("monitor.since")
    parse_since(str(since), datetime.now(UTC))  # refused now rather than at the first monitor
    folder_value = folder if folder is not None else check.get("prediction_log.folder")
    if not isinstance(folder_value, str | Path) or not str(folder_value):
        raise ConfigError(f"prediction_log.folder in {where} must be a folder path")
    log = LogSettings(
        enabled=check.flag("prediction_log.enabled"),
        folder=project_dir / folder_value,  # an absolute path stays as it is
        sample_rate=check.number("prediction_log.sample_rate", 0, 1),
        capture_images=check.flag("prediction_log.capture_images"),
        max_log_bytes=int(check.number("prediction_log.max_log_mb", 0) * 1024 * 1024),
        queue_size=check.whole("prediction_log.queue_size", 1),
        segment_records=check.whole("prediction_log.segment_records", 1),
        segment_seconds=check.number("prediction_log.segment_seconds", 0.01),
        profile_per_second=check.number("prediction_log.profile_per_second", 0),
    )
    thresholds = Thresholds(
        min_predictions=check.whole("monitor.min_predictions", 1),
        intensity_max_distance=check.number("monitor.intensity.max_distance", 0, 1),
        image_size_max_share=check.number("monitor.image_size.max_share", 0, 1),
        class_max_distance=check.number("monitor.class_distribution.max_distance", 0, 1),
        min_mean_confidence=check.number("monitor.confidence.min_mean", 0, 1),
        min_accuracy=check.number("monitor.accuracy.min_accuracy", 0, 1),
        min_labels=check.whole("monitor.accuracy.min_labels", 1),
    )
    return MonitoringSettings(
        project_dir=project_dir,
        log=log,
        retention_days=check.number("retention.days", 0),
        since=str(since),
        server_window_s=check.number("monitor.server_window_minutes", 0.01) * 60,
        thresholds=thresholds,
    )


def parse_since(text: str, now: datetime) -> datetime:
    """The start of a window: ``5m``, ``2h``, ``1d``, ``1w`` (or ``1h30m``) before ``now``,
    or an ISO 8601 time (UTC when it names no zone).

    Raises:
        ConfigError: ``text`` is neither.
    """
    text = text.strip()
    parts = _DURATION.findall(text)
    if parts and "".join(f"{number}{unit}" for number, unit in parts) == text.replace(" ", ""):
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--since {text!r} is neither a duration (5m, 2h, 1d, 1w) nor an ISO time "
            "(2026-12-02T10:00:00+00:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
