"""What a rerun is compared with: the record's inputs, stages and weights.

Outputs that dvc.yaml declares ``cache: false`` are reports (timings, plots, metrics
with latencies) that differ from run to run; only cached outputs and every input are
compared. The registering stage's entry in a record describes the run before it, so
it is left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from visionops.lineage.dvc_store import uncached_outputs
from visionops.lineage.record import REGISTERING_STAGE, produced_paths, recorded_stages

TRAINING_METADATA = "training_metadata"  # the catalog entry that records weights_sha256


def input_paths(record: dict[str, Any]) -> dict[str, str]:
    """Every dependency no recorded stage produces (code, config, data), with its md5."""
    produced = produced_paths(record)
    inputs: dict[str, str] = {}
    for stage, entry in recorded_stages(record).items():
        if stage == REGISTERING_STAGE:
            continue
        for path, md5 in (entry.get("deps") or {}).items():
            if path not in produced and isinstance(md5, str):
                inputs[path] = md5
    return inputs


def weights_sha256(project: Path) -> str | None:
    """``weights_sha256`` from the training metadata a run wrote in ``project``."""
    catalog = yaml.safe_load((project / "conf/base/catalog.yml").read_text()) or {}
    entry = catalog.get(TRAINING_METADATA) or {}
    path = project / entry.get("filepath", "data/07_model_output/training_metadata.json")
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("weights_sha256")


def stage_differences(
    record: dict[str, Any],
    rerun: dict[str, dict[str, Any]],
    project: Path,
    ran: tuple[str, ...] | None = None,
) -> list[str]:
    """Each input, cached output and parameter of a recorded stage that the rerun changed.

    Args:
        record: The version's lineage record.
        rerun: The rerun's stages, as :func:`visionops.lineage.sources.dvc_lock_stages`.
        project: Where the rerun ran (its dvc.yaml says which outputs are cached).
        ran: The stages the rerun ran; the others are not compared. Default: all.

    Returns:
        One line per difference, in pipeline order: stage, what, recorded and now.
    """
    uncached = uncached_outputs(project)
    lines = []
    for stage, entry in recorded_stages(record).items():
        if stage == REGISTERING_STAGE or (ran is not None and stage not in ran):
            continue
        now = rerun.get(stage)
        if now is None:
            lines.append(f"{stage}: did not run")
            continue
        for kind, word in (("deps", "input"), ("outs", "output")):
            before, after = entry.get(kind) or {}, now.get(kind) or {}
            for path in sorted(before.keys() | after.keys()):
                if path in uncached or before.get(path) == after.get(path):
                    continue
                lines.append(
                    f"{stage}: {word} {path} md5 {before.get(path, 'absent')} recorded, "
                    f"{after.get(path, 'absent')} now"
                )
        lines += [
            f"{stage}: parameter {key} = {value!r} recorded, {now_value!r} now"
            for key, value, now_value in _param_changes(entry, now)
        ]
    return lines


def _param_changes(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    flat_before, flat_after = _params(before), _params(after)
    return [
        (key, flat_before.get(key), flat_after.get(key))
        for key in sorted(flat_before.keys() | flat_after.keys())
        if flat_before.get(key) != flat_after.get(key)
    ]


def _params(entry: dict[str, Any]) -> dict[str, Any]:
    """A stage's parameters from every params file, by key."""
    return {
        key: value
        for values in (entry.get("params") or {}).values()
        if isinstance(values, dict)
        for key, value in values.items()
    }
