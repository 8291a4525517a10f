"""Reading lineage records (``assets.extra/lineage.json``) and where each version stands.

A record is what the deployment stage wrote when it registered a version (see
``visionops.lineage.version_record.build_lineage_record``). Older records lack some
fields; readers show those as :data:`NOT_RECORDED` and never fail on them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionops.errors import RegistryError
from visionops.registry.history import history, require_model, resolve_label
from visionops.registry.layout import (
    LINEAGE_FILE,
    PRODUCTION,
    events_path,
    list_models,
    list_versions,
    read_labels,
    version_dir,
)
from visionops.stages import STAGES

NOT_RECORDED = "not recorded"
# The stage that writes the record. DVC writes a stage's dvc.lock entry after the stage
# finishes, so the entry for this stage in a record describes the run before it.
REGISTERING_STAGE = STAGES[-1]


@dataclass(frozen=True)
class Standing:
    """Where a version stands with the production label.

    Attributes:
        labels: The labels that point at it now.
        in_production: Whether the production label points at it now.
        ever_production: Whether the production label has ever pointed at it (from the
            audit log and the labels now).
        note: Why the answer may be incomplete (an unreadable log); empty otherwise.
    """

    labels: tuple[str, ...]
    in_production: bool
    ever_production: bool
    note: str = ""

    def describe(self) -> str:
        """``in production now``, ``was in production`` or ``never in production``."""
        if self.in_production:
            text = "in production now"
        elif self.ever_production:
            text = "was in production"
        else:
            text = "never in production"
        return f"{text} ({self.note})" if self.note else text


def resolve_version(root: Path, reference: str) -> tuple[str, int]:
    """The model and version named by ``MODEL``, ``MODEL:VERSION`` or ``MODEL@LABEL``.

    ``MODEL`` alone means its production version, else its newest.

    Raises:
        RegistryError: The model, version or label does not exist, or the version is
            not a number.
    """
    model, at, label = reference.rpartition("@")
    if at:
        return model, resolve_label(root, model, label)
    model, colon, number = reference.rpartition(":")
    if not colon:
        model = reference
        require_model(root, model)
        production = read_labels(root).get(model, {}).get(PRODUCTION)
        versions = list_versions(root, model)
        if production is not None:
            return model, production
        if not versions:
            raise RegistryError(f"{model!r} has no version in {root}")
        return model, versions[-1]
    if not number.isdigit():
        raise RegistryError(f"{reference!r}: put a version number after ':', e.g. {model}:3")
    require_model(root, model)
    if not version_dir(root, model, int(number)).is_dir():
        known = ", ".join(map(str, list_versions(root, model))) or "none"
        raise RegistryError(
            f"version {number} of {model!r} does not exist in {root} (versions: {known})"
        )
    return model, int(number)


def load_record(root: Path, model: str, version: int) -> dict[str, Any]:
    """The lineage record of one version; ``{}`` when the version has none.

    Raises:
        RegistryError: The record exists but is not a JSON object.
    """
    path = version_dir(root, model, version) / LINEAGE_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_bytes())
    except ValueError as error:
        raise RegistryError(f"{path} is not valid JSON ({error}); the record is damaged") from error
    if not isinstance(record, dict):
        raise RegistryError(f"{path} is not a JSON object; the record is damaged")
    return record


def iter_records(root: Path) -> Iterator[tuple[str, int, dict[str, Any] | None]]:
    """Every version of every model with its record, ``None`` where it is unreadable."""
    for model in list_models(root):
        for version in list_versions(root, model):
            try:
                yield model, version, load_record(root, model, version)
            except RegistryError:
                yield model, version, None


def standings(root: Path, model: str) -> dict[int, Standing]:
    """Where each version of ``model`` stands with the production label.

    Falls back to the labels alone, saying so, when the audit log cannot be read.
    """
    labels = read_labels(root).get(model, {})
    try:
        summaries = history(root, model)
    except RegistryError as error:
        note = f"audit log unreadable: {error}"
        return {
            version: Standing(
                labels=tuple(sorted(k for k, v in labels.items() if v == version)),
                in_production=labels.get(PRODUCTION) == version,
                ever_production=labels.get(PRODUCTION) == version,
                note=note,
            )
            for version in list_versions(root, model)
        }
    note = "" if events_path(root, model).is_file() else "no audit log: past labels unknown"
    return {
        entry.version: Standing(
            labels=tuple(entry.labels),
            in_production=PRODUCTION in entry.labels,
            ever_production=entry.ever_production,
            note=note,
        )
        for entry in summaries
    }


def recorded_stages(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The record's dvc.lock stages in pipeline order (unknown stages last)."""
    stages = record.get("stages")
    if not isinstance(stages, dict):
        return {}
    order = {name: index for index, name in enumerate(STAGES)}
    return {
        name: stages[name]
        for name in sorted(stages, key=lambda name: (order.get(name, len(order)), name))
        if isinstance(stages[name], dict)
    }


def produced_paths(record: dict[str, Any]) -> set[str]:
    """Every path some recorded stage writes."""
    return {path for stage in recorded_stages(record).values() for path in stage.get("outs", {})}
