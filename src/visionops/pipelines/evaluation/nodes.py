"""Nodes of the evaluation pipeline."""

from __future__ import annotations

from typing import Any

import keras
import pandas as pd
from matplotlib.figure import Figure

from visionops.dataplane.reader import ShardedDataset
from visionops.evaluation.blessing import decide_blessing
from visionops.evaluation.confusion_plot import plot_confusion_matrix as draw_confusion_matrix
from visionops.evaluation.production import ProductionModel
from visionops.evaluation.scoring import evaluate_split, require_comparable

HEADLINE_METRICS = ("accuracy", "macro_f1", "expected_calibration_error")


def evaluate_model(
    model: keras.Model,
    test_split: ShardedDataset,
    production_model: ProductionModel | None,
    model_name: str,
    ingestion: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, Figure, dict[str, Any]]:
    """Scores the model, and the production model, on the test split.

    Raises:
        DifferentTaskError: The production model of ``model_name`` learned other
            classes or another image shape; the message gives the command for a new model.

    Returns:
        The evaluation (accuracy, macro F1, per-class precision/recall/F1, calibration
        error, and the production model's metrics on the same split), one row per test
        image with actual and predicted class for the DVC confusion-matrix plot, a
        gallery of the most confident mistakes, and the measured latency (kept apart:
        it differs from run to run, while everything else is the same for the same
        inputs).
    """
    require_comparable(test_split, production_model, model_name, ingestion)
    scored = evaluate_split(
        model,
        test_split,
        production_model,
        batch_size=int(params["batch_size"]),
        latency_samples=int(params.get("latency_samples", 100)),
        gallery_size=int(params.get("gallery_size", 16)),
    )
    return scored.report, scored.predictions, scored.gallery, {"latency": scored.latency}


def headline_metrics(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The figures ``dvc metrics show`` and ``dvc exp show`` compare runs by."""
    return {key: evaluation[key] for key in HEADLINE_METRICS}


def bless_model(
    evaluation: dict[str, Any], run_context: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Decides whether the model may be deployed, with the reason in plain words."""
    return decide_blessing(evaluation, evaluation.get("production"), run_context, params)


def plot_confusion_matrix(predictions: pd.DataFrame, test_split: ShardedDataset) -> Figure:
    """Draws the test split's confusion matrix, counts in each cell."""
    return draw_confusion_matrix(predictions, test_split.class_names)
