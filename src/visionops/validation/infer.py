"""Expectation suites inferred from data the user trusts, to review and then commit.

Like TFDV's schema inference: every value the data showed becomes an expectation
with a margin, and each says in its ``meta`` what was observed, so a reviewer can
tighten or loosen it. Policy that data cannot tell (the fewest images to train on,
how many unreadable files to tolerate) stays a ``$PARAMETER`` from the parameters.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from visionops.dataplane.reader import ShardedDataset
from visionops.validation.gate import class_table


def _floor(value: float, digits: int = 3) -> float:
    return math.floor(value * 10**digits) / 10**digits


def _ceil(value: float, digits: int = 3) -> float:
    return math.ceil(value * 10**digits) / 10**digits


def _expectation(kind: str, why: str, observed: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"why": why, "observed": observed}}


def infer_suites(
    profile: pd.DataFrame, dataset: ShardedDataset, source: str
) -> dict[str, dict[str, Any]]:
    """Infers the ``images``, ``dataset`` and ``classes`` suites from a trusted dataset.

    Args:
        profile: The dataset's image profile (see :func:`profile_dataset`).
        dataset: The dataset version profiled.
        source: Where the data came from, recorded in each suite's notes.

    Returns:
        The three suites in Great Expectations' JSON form, by name.
    """
    readable = profile[profile["readable"]]
    shapes = sorted(readable["shape"].unique().tolist())
    channels = sorted(int(value) for value in readable["channels"].unique())
    dtypes = sorted(readable["dtype"].unique().tolist())
    low, high = float(readable["min"].min()), float(readable["max"].max())
    least_std = float(readable["std"].min())
    class_ids = list(range(len(dataset.class_names)))
    rows = len(readable)
    duplicate_share = 1 - readable["sha256"].nunique() / max(rows, 1)
    near_share = 1 - readable["near_duplicate_group"].nunique() / max(rows, 1)
    ratios = class_table(dataset)["share_ratio"]
    notes = f"Inferred from {source} ({rows} images). Review each expectation, then commit."
    images = [
        _expectation(
            "expect_column_values_to_be_in_set",
            "every file must decode as an image",
            "policy: data_validation.on_invalid",
            column="readable",
            value_set=[True],
            mostly={"$PARAMETER": "min_readable_share"},
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            "every image must have the shape of the trusted data",
            f"shapes {shapes}",
            column="shape",
            value_set=shapes,
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            "images must have the trusted data's channels",
            f"channels {channels}",
            column="channels",
            value_set=channels,
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            "pixels must have the trusted data's dtype",
            f"dtypes {dtypes}",
            column="dtype",
            value_set=dtypes,
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            "pixels must be finite numbers (no NaN or Inf)",
            "all finite",
            column="finite",
            value_set=[True],
        ),
        _expectation(
            "expect_column_values_to_be_between",
            "pixel values must not fall below the trusted range",
            f"least pixel value {low:g}",
            column="min",
            min_value=low,
        ),
        _expectation(
            "expect_column_values_to_be_between",
            "pixel values must not exceed the trusted range",
            f"greatest pixel value {high:g}",
            column="max",
            max_value=high,
        ),
        _expectation(
            "expect_column_values_to_be_in_set",
            "every label must name one of the trusted data's classes",
            f"classes {list(dataset.class_names)}",
            column="label",
            value_set=class_ids,
        ),
        _expectation(
            "expect_column_values_to_be_between",
            "an image with less pixel variation than half the flattest trusted image is blank",
            f"least pixel standard deviation {least_std:.3f}",
            column="std",
            min_value=_floor(least_std / 2),
        ),
    ]
    whole = [
        _expectation(
            "expect_table_row_count_to_be_between",
            "too few images to train and evaluate a model",
            f"{rows} images; policy: data_validation.expectations.min_rows",
            min_value={"$PARAMETER": "min_rows"},
        ),
        _expectation(
            "expect_column_unique_value_count_to_be_between",
            "every class of the trusted data must have images",
            f"{len(class_ids)} classes",
            column="label",
            min_value=len(class_ids),
        ),
        _expectation(
            "expect_column_distinct_values_to_contain_set",
            "every class must have images",
            f"classes {list(dataset.class_names)}",
            column="label",
            value_set=class_ids,
        ),
        _expectation(
            "expect_column_proportion_of_unique_values_to_be_between",
            "too many exact duplicate images: at most twice the trusted share, or 1%",
            f"duplicate share {duplicate_share:.4f}",
            column="sha256",
            min_value=_floor(1 - max(2 * duplicate_share, 0.01)),
        ),
        _expectation(
            "expect_column_proportion_of_unique_values_to_be_between",
            "too many near-duplicate images: at most twice the trusted share, or 2%",
            f"near-duplicate share {near_share:.4f}",
            column="near_duplicate_group",
            min_value=_floor(1 - max(2 * near_share, 0.02)),
        ),
        _expectation(
            "expect_column_values_to_be_between",
            "the same image carries two different labels",
            "no image with two labels",
            column="labels_per_content",
            max_value=1,
        ),
    ]
    classes = [
        _expectation(
            "expect_column_values_to_be_between",
            "class shares must stay near the trusted data's: half the least to 1.5 times the most",
            f"share ratios {ratios.min():.3f} to {ratios.max():.3f}",
            column="share_ratio",
            min_value=_floor(float(ratios.min()) / 2),
            max_value=_ceil(float(ratios.max()) * 1.5),
        )
    ]
    return {
        "images": {
            "name": "images",
            "meta": {"table": "images", "notes": notes},
            "expectations": images,
        },
        "dataset": {
            "name": "dataset",
            "meta": {"table": "images", "notes": notes},
            "expectations": whole,
        },
        "classes": {
            "name": "classes",
            "meta": {"table": "classes", "notes": notes},
            "expectations": classes,
        },
    }
