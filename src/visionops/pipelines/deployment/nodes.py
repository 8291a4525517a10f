"""Nodes of the deployment pipeline."""

from __future__ import annotations

from typing import Any

import keras

from visionops.image_dataset import ImageDataset
from visionops.registry.store import Declined, Registration


def register_model(
    model: keras.Model,
    test_split: ImageDataset,
    metrics: dict[str, Any],
    blessing: dict[str, Any],
    data_profile: dict[str, Any],
    model_registry: dict[str, Any],
    params: dict[str, Any],
) -> tuple[Registration | Declined, dict[str, Any]]:
    """Decides what to register: the next version of a blessed model, or nothing.

    Args:
        model: The trained model.
        test_split: Gives the class names and image shape the model serves.
        metrics: The evaluation metrics, kept in the version's lineage.
        blessing: The evaluation's decision and reason.
        data_profile: The validated data's distribution profile, kept with the version
            as the drift reference for data that arrives while it is in production.
        model_registry: Snapshot of the registry, ``{model: {"versions": [...], ...}}``.
        params: The ``deployment`` parameters: model_name, labels.

    Returns:
        The registration for the registry dataset, and a deployment report.
    """
    name = params["model_name"]
    if not blessing["blessed"]:
        reason = f"not deployed: {blessing['reason']}"
        return Declined(reason=reason), {"model_name": name, "registered": False, "reason": reason}
    versions = model_registry.get(name, {}).get("versions", [])
    version = max(versions, default=0) + 1
    labels = tuple(params.get("labels", ()))
    registration = Registration(
        model_name=name,
        version=version,
        model=model,
        class_names=test_split.class_names,
        image_shape=test_split.image_shape,
        lineage={"metrics": metrics, "blessing": blessing, "deployment": dict(params)},
        labels=labels,
        data_profile=data_profile,
    )
    report = {
        "model_name": name,
        "registered": True,
        "version": version,
        "labels": list(labels),
        "reason": f"deployed as version {version}: {blessing['reason']}",
    }
    return registration, report
