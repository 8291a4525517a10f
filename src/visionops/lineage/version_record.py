"""Builds the lineage record of a new model version (``assets.extra/lineage.json``).

The deployment stage writes it when it registers a version; :mod:`visionops.lineage.record`
reads it back. Its ``format`` is :data:`RECORD_FORMAT`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from visionops import __version__

RECORD_FORMAT = 1


def validation_summary(validation_report: dict[str, Any]) -> dict[str, Any]:
    """What the record keeps of the data validation report: its outcome and counts,
    the drift reference, and how many images were quarantined."""
    summary = {
        key: validation_report.get(key) for key in ("success", "images", "evaluated", "failed")
    }
    summary["drift_reference"] = (validation_report.get("drift") or {}).get("reference")
    summary["quarantined"] = len(validation_report.get("quarantined") or [])
    return summary


def build_lineage_record(
    metrics: dict[str, Any],
    blessing: dict[str, Any],
    validation_report: dict[str, Any],
    training_metadata: dict[str, Any],
    lineage_sources: dict[str, Any],
    run_context: dict[str, Any],
    class_names: Sequence[str],
    image_shape: Sequence[int],
) -> dict[str, Any]:
    """What produced a version: code, data hashes of every stage, parameters,
    validation, training, metrics, blessing, task, who and when.

    Args:
        metrics: The evaluation report.
        blessing: The evaluation's decision and reason.
        validation_report: The data validation report (summarised).
        training_metadata: The training run's weights sha256, devices, versions.
        lineage_sources: The git commit and dirty flag (``code``), dvc.lock's hashes
            of every stage (``stages``) and params.yaml (``parameters``).
        run_context: Who registers (``actor``) and when (``time``).
        class_names: The classes the model learned, in label order.
        image_shape: Height, width and channels of its input images.
    """
    return {
        "format": RECORD_FORMAT,
        "code": lineage_sources["code"],
        "stages": lineage_sources["stages"],
        "parameters": lineage_sources["parameters"],
        "validation": validation_summary(validation_report),
        "training": training_metadata,
        "metrics": metrics,
        "blessing": blessing,
        "class_names": [str(name) for name in class_names],
        "image_shape": [int(side) for side in image_shape],
        "registered_by": run_context["actor"],
        "registered_at": run_context["time"],
        "versions": {"visionops": __version__, **training_metadata.get("versions", {})},
    }
