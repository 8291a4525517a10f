"""Nodes of the data validation pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from visionops.dataplane.reader import ShardedDataset
from visionops.errors import DataValidationError
from visionops.task import DifferentTaskError
from visionops.validation.data_docs import render_data_docs
from visionops.validation.drift import plot_distributions
from visionops.validation.gate import (
    format_report,
    task_advice,
    validate_dataset,
    validated_manifest,
)


def validate_images(
    raw_dataset: ShardedDataset,
    images_suite: dict[str, Any],
    dataset_suite: dict[str, Any],
    classes_suite: dict[str, Any],
    drift_reference: dict[str, Any] | None,
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any], dict[str, bytes], Figure]:
    """Profiles every image from the dataset's index, runs the expectation suites and
    compares with the reference; decodes no image where the index holds what is needed.

    Never raises for bad data: the reports are written either way, and
    :func:`gate_dataset` stops the run.

    Returns:
        The validation report (the DVC metrics file), the image profile (one row per
        image), the data profile (the drift reference for this data's model), the
        Great Expectations Data Docs site, and a plot of the class and intensity
        distributions against the reference.
    """
    outcome = validate_dataset(
        raw_dataset, [images_suite, dataset_suite, classes_suite], drift_reference, params
    )
    reference = drift_reference["profile"] if drift_reference else None
    return (
        outcome.report,
        outcome.image_profile,
        outcome.data_profile,
        render_data_docs(outcome.results),
        plot_distributions(outcome.data_profile, reference),
    )


def validation_metrics(validation_report: dict[str, Any]) -> dict[str, Any]:
    """The figures ``dvc metrics show`` and ``dvc exp show`` compare runs by."""
    drift = validation_report.get("drift") or {}
    return {
        "images": validation_report["images"],
        "failed_expectations": validation_report["failed"],
        "failed_drift_checks": sum(
            check.get("status") == "fail" for check in drift.get("checks", [])
        ),
    }


def gate_dataset(
    raw_dataset: ShardedDataset,
    validation_report: dict[str, Any],
    model_name: str,
    ingestion: dict[str, Any],
) -> dict[str, Any]:
    """Passes the dataset on only if it passed validation, without quarantined files.

    Returns:
        The validated manifest (see
        :func:`~visionops.validation.gate.validated_manifest`): the hash of the index
        that passed and the source ids of the rows set aside.

    Raises:
        DifferentTaskError: The data passed every expectation, but its classes or image
            shape are not those of ``model_name``'s reference; the one-line message
            gives the command for a new model (with failed expectations too, that line
            ends the validation report instead).
        DataValidationError: An expectation or a drift check failed; the message
            names each with observed and expected values and a few offending images.
    """
    advice = task_advice(validation_report, model_name, ingestion)
    if advice is not None and validation_report["failed"] == 0:
        raise DifferentTaskError(advice)
    if not validation_report["success"]:
        report = format_report(validation_report, "raw_dataset")
        raise DataValidationError(report if advice is None else f"{report}\n{advice}")
    return validated_manifest(raw_dataset, validation_report)
