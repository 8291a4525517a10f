"""Nodes of the data validation pipeline."""

from __future__ import annotations

from typing import Any

from visionops.errors import DataValidationError
from visionops.image_dataset import ImageDataset
from visionops.validation.expectations import format_failures, run_suite
from visionops.validation.profile import profile_images


def suite_parameters(dataset: ImageDataset, params: dict[str, Any]) -> dict[str, Any]:
    """Values for the suite's ``$PARAMETER`` placeholders, from the data and parameters."""
    return {
        "class_ids": list(range(len(dataset.class_names))),
        "min_rows": int(params["min_rows"]),
        "min_pixel_value": params["min_pixel_value"],
        "max_pixel_value": params["max_pixel_value"],
        "dtypes": list(params["dtypes"]),
    }


def validate_images(
    raw_dataset: ImageDataset, suite: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Profiles every image and validates the profile against the expectation suite.

    Never raises for failed expectations: the report is written either way, and
    :func:`gate_dataset` stops the run.

    Returns:
        The validation report: success, and each expectation's outcome.
    """
    profile = profile_images(raw_dataset, chunk_size=int(params["chunk_size"]))
    return run_suite(profile, suite, suite_parameters(raw_dataset, params))


def gate_dataset(raw_dataset: ImageDataset, validation_report: dict[str, Any]) -> ImageDataset:
    """Passes the dataset on only if it met every expectation.

    Raises:
        DataValidationError: One or more expectations failed; the message names each
            with observed and expected values and a few offending images.
    """
    if not validation_report["success"]:
        raise DataValidationError(format_failures(validation_report, "raw_dataset"))
    return raw_dataset
