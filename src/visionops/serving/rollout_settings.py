"""The rollout guards' settings: ``conf/base/release_rollout.yml``, then conf/local.

Read through :func:`visionops.config.read_settings_file`, as the production loop's
settings are: conf/local/release_rollout.yml, when present, is laid over
conf/base/release_rollout.yml key by key; a project without the file gets
:data:`DEFAULTS`. Every value is checked here, with a message naming the key and the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionops.config import read_layered_settings
from visionops.errors import ConfigError

SETTINGS_FILE = "release_rollout.yml"
ERROR_RATE, P99_LATENCY_MS, DISAGREEMENT = "error_rate", "p99_latency_ms", "disagreement"
DEFAULTS: dict[str, Any] = {
    "guards": {
        ERROR_RATE: {"max": 0.02, "min_requests": 50},
        P99_LATENCY_MS: {"max": 500, "min_requests": 100},
        DISAGREEMENT: {"max": 0.2, "min_requests": 100},
    },
    "canary": {"compare_share": 0.0},
    "comparison": {"max_pending": 64, "log": True},
}
# The largest value each guard's limit may take.
_CEILINGS = {ERROR_RATE: 1.0, P99_LATENCY_MS: None, DISAGREEMENT: 1.0}


@dataclass(frozen=True)
class Guard:
    """One guard: the candidate is rolled back when ``name`` passes ``limit`` over at
    least ``min_requests`` of its requests."""

    name: str
    limit: float
    min_requests: int


@dataclass(frozen=True)
class RolloutSettings:
    """Everything conf/base/release_rollout.yml sets.

    Attributes:
        guards: The guards, in the order they are judged.
        compare_share: Share of canary requests production answers too, to compare.
        max_pending: Comparison calls in flight at once, at most.
        log_comparisons: Whether each comparison is written to the production folder.
        where: The file the settings came from (for messages).
    """

    guards: tuple[Guard, ...]
    compare_share: float
    max_pending: int
    log_comparisons: bool
    where: Path


def _number(values: dict[str, Any], dotted: str, where: Path, high: float | None) -> float:
    value: Any = values
    for part in dotted.split("."):
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{dotted} in {where} must be a number of at least 0; got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{dotted} in {where} must be at most {high:g}; got {value!r}")
    return float(value)


def _whole(values: dict[str, Any], dotted: str, where: Path) -> int:
    value: Any = values
    for part in dotted.split("."):
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{dotted} in {where} must be a whole number of at least 1; got {value!r}"
        )
    return value


def load_rollout_settings(project_dir: Path) -> RolloutSettings:
    """Reads the project's rollout guards (the defaults where it sets none).

    Raises:
        ConfigError: A setting is unknown or invalid; the message names it and the file.
    """
    project_dir = Path(project_dir)
    where = project_dir / "conf" / "base" / SETTINGS_FILE
    values = read_layered_settings(project_dir, SETTINGS_FILE, DEFAULTS)
    guards = tuple(
        Guard(
            name,
            _number(values, f"guards.{name}.max", where, ceiling),
            _whole(values, f"guards.{name}.min_requests", where),
        )
        for name, ceiling in _CEILINGS.items()
    )
    log = values["comparison"]["log"]
    if not isinstance(log, bool):
        raise ConfigError(f"comparison.log in {where} must be true or false; got {log!r}")
    return RolloutSettings(
        guards=guards,
        compare_share=_number(values, "canary.compare_share", where, 1.0),
        max_pending=_whole(values, "comparison.max_pending", where),
        log_comparisons=log,
        where=where,
    )
