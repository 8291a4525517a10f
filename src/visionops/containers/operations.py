"""Each stage's retries, time limit and resource requests, from conf/base/operations.yml.

One file holds them and every spec of pipelines/ renders them, so that a stage asks
for the same memory under Compose, Airflow, Argo, Kubernetes and Ray.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from visionops.errors import ConfigError

OPERATIONS_FILE = "operations.yml"
_KEYS = ("retries", "timeout", "cpu", "memory", "gpu")
_DURATION = re.compile(r"^(\d+)(s|m|h)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600}
_CPU = re.compile(r"^(\d+(\.\d+)?|\d+m)$")
_MEMORY = re.compile(r"^(\d+)(Ki|Mi|Gi|Ti)?$")
_BYTES = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


@dataclass(frozen=True)
class StageOperations:
    """How one stage runs under an orchestrator.

    Attributes:
        retries: Times a failed run is retried (0: never).
        timeout_s: The longest a run may take, in seconds.
        cpu: Cores requested, as Kubernetes writes them ("2", "0.5", "500m").
        memory: Memory requested, as Kubernetes writes it ("2Gi").
        gpu: NVIDIA GPUs requested.
    """

    retries: int
    timeout_s: int
    cpu: str
    memory: str
    gpu: int

    @property
    def cpu_cores(self) -> float:
        """The CPU request in cores (Compose's ``cpus``, Ray's ``num_cpus``)."""
        return int(self.cpu[:-1]) / 1000 if self.cpu.endswith("m") else float(self.cpu)

    @property
    def memory_bytes(self) -> int:
        """The memory request in bytes (Ray's ``memory``)."""
        number, unit = _MEMORY.match(self.memory).groups()  # type: ignore[union-attr]
        return int(number) * _BYTES[unit]

    @property
    def memory_mb(self) -> int:
        """The memory request in MiB, rounded up (Compose's ``mem_limit`` as ``NNNm``)."""
        return -(-self.memory_bytes // 2**20)


def _field(stage: str, key: str, value: Any, path: Path) -> Any:
    where = f"{key} of {stage} in {path}"
    if key in ("retries", "gpu"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where} is {value!r}; it must be a whole number, 0 or more")
        return value
    text = str(value).strip()
    if key == "timeout":
        match = _DURATION.match(text)
        if not match or int(match.group(1)) == 0:
            raise ConfigError(f"{where} is {value!r}; write a duration such as 90s, 30m or 2h")
        return int(match.group(1)) * _SECONDS[match.group(2)]
    if key == "cpu":
        if isinstance(value, bool) or not _CPU.match(text) or float(text.rstrip("m")) == 0:
            raise ConfigError(f"{where} is {value!r}; write cores such as 1, 0.5 or 500m")
        return text
    if not _MEMORY.match(text) or int(_MEMORY.match(text).group(1)) == 0:  # type: ignore[union-attr]
        raise ConfigError(f"{where} is {value!r}; write bytes such as 512Mi or 4Gi")
    return text


def _settings(entry: Any, stage: str, path: Path) -> dict[str, Any]:
    if entry is None:
        return {}
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{stage} in {path} must be a mapping of {', '.join(_KEYS)}")
    unknown = sorted(set(entry) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key {', '.join(map(repr, unknown))} for {stage} in {path}; "
            f"the keys are {', '.join(_KEYS)}"
        )
    return {key: _field(stage, key, value, path) for key, value in entry.items()}


def stage_operations(project_dir: Path, stages: Sequence[str]) -> dict[str, StageOperations]:
    """Each stage's :class:`StageOperations`: its entry in conf/base/operations.yml over
    the file's ``defaults``.

    Raises:
        ConfigError: The file is missing, names an unknown stage or key, or a value is
            not of its kind; the message names the key and the file.
    """
    path = Path(project_dir) / "conf" / "base" / OPERATIONS_FILE
    if not path.is_file():
        raise ConfigError(f"{path} is missing; it sets each stage's retries, timeout and resources")
    document = yaml.safe_load(path.read_text()) or {}
    if not isinstance(document, Mapping) or set(document) - {"defaults", "stages"}:
        raise ConfigError(f"{path} must be a mapping with the keys defaults and stages")
    defaults = _settings(document.get("defaults"), "defaults", path)
    missing = [key for key in _KEYS if key not in defaults]
    if missing:
        raise ConfigError(f"defaults in {path} lacks {', '.join(missing)}")
    entries = document.get("stages") or {}
    unknown = sorted(set(entries) - set(stages))
    if unknown:
        raise ConfigError(
            f"unknown stage {', '.join(map(repr, unknown))} in {path}; "
            f"the stages are {', '.join(stages)}"
        )
    operations = {}
    for stage in stages:
        values = {**defaults, **_settings(entries.get(stage), stage, path)}
        operations[stage] = StageOperations(
            retries=values["retries"],
            timeout_s=values["timeout"],
            cpu=values["cpu"],
            memory=values["memory"],
            gpu=values["gpu"],
        )
    return operations


def combined(operations: Mapping[str, StageOperations], stages: Sequence[str]) -> StageOperations:
    """What one pod that runs ``stages`` one after another needs: the most CPU, memory
    and GPUs any of them asks for, the sum of their time limits, and the fewest retries
    (no stage is retried more often than its own entry allows).

    Raises:
        ValueError: ``stages`` is empty.
    """
    if not stages:
        raise ValueError("combined() needs at least one stage")
    chosen = [operations[stage] for stage in stages]
    return StageOperations(
        retries=min(entry.retries for entry in chosen),
        timeout_s=sum(entry.timeout_s for entry in chosen),
        cpu=max(chosen, key=lambda entry: entry.cpu_cores).cpu,
        memory=max(chosen, key=lambda entry: entry.memory_bytes).memory,
        gpu=max(entry.gpu for entry in chosen),
    )
