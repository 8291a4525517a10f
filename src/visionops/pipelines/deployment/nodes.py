"""Nodes of the deployment pipeline."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from visionops import __version__
from visionops.image_dataset import ImageDataset
from visionops.registry.decision import next_version, why_not_deployed
from visionops.registry.infra import InfraCheck
from visionops.registry.store import Declined, Registration


def infra_check(model: keras.Model, test_split: ImageDataset, params: dict[str, Any]) -> InfraCheck:
    """What the export must show before it is registered: the in-memory model's answers
    on the first test images, within a tolerance, and a latency bound."""
    infra = params["infra_validation"]
    samples = test_split.images[: int(infra["samples"])]
    expected = np.asarray(model.predict(samples.astype(np.float32), verbose=0))
    return InfraCheck(
        samples=samples,
        expected=expected,
        tolerance=float(infra["tolerance"]),
        max_p99_ms=float(infra["max_p99_ms"]),
    )


def lineage_record(
    metrics: dict[str, Any],
    blessing: dict[str, Any],
    validation_report: dict[str, Any],
    training_metadata: dict[str, Any],
    lineage_sources: dict[str, Any],
    run_context: dict[str, Any],
    test_split: ImageDataset,
) -> dict[str, Any]:
    """What produced this version: code, data hashes of every stage, parameters,
    validation, training, metrics, blessing, who and when (``lineage.json``)."""
    summary = {
        key: validation_report.get(key) for key in ("success", "images", "evaluated", "failed")
    }
    summary["drift_reference"] = (validation_report.get("drift") or {}).get("reference")
    summary["quarantined"] = len(validation_report.get("quarantined") or [])
    return {
        "format": 1,
        "code": lineage_sources["code"],
        "stages": lineage_sources["stages"],
        "parameters": lineage_sources["parameters"],
        "validation": summary,
        "training": training_metadata,
        "metrics": metrics,
        "blessing": blessing,
        "class_names": list(test_split.class_names),
        "image_shape": list(test_split.image_shape),
        "registered_by": run_context["actor"],
        "registered_at": run_context["time"],
        "versions": {"visionops": __version__, **training_metadata.get("versions", {})},
    }


def register_model(
    model: keras.Model,
    test_split: ImageDataset,
    evaluation: dict[str, Any],
    blessing: dict[str, Any],
    data_profile: dict[str, Any],
    validation_report: dict[str, Any],
    training_metadata: dict[str, Any],
    model_registry: dict[str, Any],
    lineage_sources: dict[str, Any],
    run_context: dict[str, Any],
    model_name: str,
    params: dict[str, Any],
) -> tuple[Registration | Declined, dict[str, Any]]:
    """Decides what to register: the next version of a blessed model, or nothing.

    Nothing when the model is not blessed, when a version with the same weights is
    registered already, or when it was blessed against a production version that is
    no longer production (see :func:`visionops.registry.decision.why_not_deployed`).

    The registry dataset exports the registration, validates the export in a fresh
    process (see :mod:`visionops.registry.infra`) and only then makes it a version;
    a failed infra validation registers nothing and stops the run with the reason.

    Args:
        model: The trained model.
        test_split: Gives the class names, the image shape and the infra samples.
        evaluation: The evaluation's metrics, kept in the version's lineage.
        blessing: The evaluation's decision and reason.
        data_profile: The validated data's distribution profile, kept with the version
            as the drift reference for data that arrives while it is in production.
        validation_report: The data validation summary, kept in the lineage.
        training_metadata: The training run's weights sha256, devices, versions.
        model_registry: Snapshot of the registry, ``{model: {"versions": [...],
            "labels": {...}, "weights": {...}}}``.
        lineage_sources: The git commit and dirty flag, dvc.lock's hashes of every
            stage, and params.yaml.
        run_context: Who deploys, and when.
        model_name: The model to add a version to (the ``model_name`` parameter).
        params: The ``deployment`` parameters: labels, infra_validation.

    Returns:
        The registration for the registry dataset, and a deployment report.
    """
    weights = str(training_metadata.get("weights_sha256") or "")
    reason = why_not_deployed(blessing, model_name, model_registry, weights)
    if reason is not None:
        report = {"model_name": model_name, "registered": False, "reason": reason}
        return Declined(reason=reason), report
    version = next_version(model_name, model_registry)
    labels = tuple(params.get("labels", ()))
    registration = Registration(
        model_name=model_name,
        version=version,
        model=model,
        class_names=test_split.class_names,
        image_shape=test_split.image_shape,
        lineage=lineage_record(
            evaluation,
            blessing,
            validation_report,
            training_metadata,
            lineage_sources,
            run_context,
            test_split,
        ),
        labels=labels,
        data_profile=data_profile,
        infra=infra_check(model, test_split, params),
    )
    report = {
        "model_name": model_name,
        "registered": True,
        "version": version,
        "labels": list(labels),
        "reason": f"deployed as version {version}: {blessing['reason']}",
    }
    return registration, report
