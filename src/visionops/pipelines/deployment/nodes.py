"""Nodes of the deployment pipeline."""

from __future__ import annotations

from typing import Any

from visionops.dataplane.reader import ShardedDataset
from visionops.lineage.version_record import build_lineage_record
from visionops.registry.decision import labels_to_move, next_version, why_not_deployed
from visionops.registry.infra import infra_check
from visionops.registry.store import Declined, Registration


def register_model(
    model: Any,
    test_split: ShardedDataset,
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
        model: The trained Keras model. Typed ``Any``: Kedro reads a node's type hints
            as it starts, and naming ``keras.Model`` would import TensorFlow before the
            stage has started its infra-validation process.
        test_split: Gives the class names and the image shape (its metadata), and the
            infra samples (its first images, read by their index rows).
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
        run_context: Who deploys, and when, and the approvals production asks for
            (``approvals``: ``required`` and the ``source`` file that sets it).
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
    labels, gated = labels_to_move(
        tuple(params.get("labels", ())), model_name, version, run_context.get("approvals", {})
    )
    registration = Registration(
        model_name=model_name,
        version=version,
        model=model,
        class_names=test_split.class_names,
        image_shape=test_split.image_shape,
        lineage=build_lineage_record(
            evaluation,
            blessing,
            validation_report,
            training_metadata,
            lineage_sources,
            run_context,
            test_split.class_names,
            test_split.image_shape,
        )
        # What the data was ingested from: every source, and the production feedback
        # (segments, labels, senders) when a feedback export was among them.
        | {"data_source": dict(test_split.meta.source)},
        labels=labels,
        data_profile=data_profile,
        infra=infra_check(model, test_split, params["infra_validation"]),
    )
    report = {
        "model_name": model_name,
        "registered": True,
        "version": version,
        "labels": list(labels),
        "reason": f"deployed as version {version}: {blessing['reason']}",
    }
    if gated is not None:
        report["approvals"] = gated
    return registration, report
