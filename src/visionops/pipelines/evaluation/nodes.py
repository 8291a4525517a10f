"""Nodes of the evaluation pipeline."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from visionops.datasets.champion import ProductionModel
from visionops.evaluation.blessing import decide_blessing
from visionops.evaluation.confusion import confusion_counts
from visionops.evaluation.gallery import plot_worst_mistakes
from visionops.evaluation.metrics import classification_metrics, measure_latency
from visionops.image_dataset import ImageDataset
from visionops.modeling.prediction import predict_probabilities
from visionops.task import require_same_task

HEADLINE_METRICS = ("accuracy", "macro_f1", "expected_calibration_error")


def _score_production(
    production: ProductionModel | None, test_split: ImageDataset, batch_size: int
) -> dict[str, Any] | None:
    """The production model's metrics on this test split, or why it cannot be scored."""
    if production is None:
        return None
    probabilities = production.predict(test_split.images, batch_size)
    if probabilities.shape[1] != len(test_split.class_names):
        why = f"has {probabilities.shape[1]} classes, not {len(test_split.class_names)}"
        return {"version": production.version, "comparable": False, "why": why}
    scored = classification_metrics(probabilities, test_split.labels, test_split.class_names)
    return {"version": production.version, "comparable": True, "metrics": scored}


def evaluate_model(
    model: keras.Model,
    test_split: ImageDataset,
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
    if production_model is not None:
        require_same_task(
            (test_split.class_names, test_split.image_shape),
            (production_model.class_names, production_model.image_shape),
            model_name,
            production_model.version,
            ingestion,
        )
    batch_size = int(params["batch_size"])
    probabilities = predict_probabilities(model, test_split, batch_size)
    evaluation = classification_metrics(probabilities, test_split.labels, test_split.class_names)
    evaluation["production"] = _score_production(production_model, test_split, batch_size)
    latency = measure_latency(
        lambda images: model.predict_on_batch(images.astype(np.float32)),
        test_split.images,
        int(params.get("latency_samples", 100)),
    )
    names = np.asarray(test_split.class_names)
    predictions = pd.DataFrame(
        {"actual": names[test_split.labels], "predicted": names[probabilities.argmax(axis=1)]}
    )
    gallery = plot_worst_mistakes(test_split, probabilities, int(params.get("gallery_size", 16)))
    return evaluation, predictions, gallery, {"latency": latency}


def headline_metrics(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The figures ``dvc metrics show`` and ``dvc exp show`` compare runs by."""
    return {key: evaluation[key] for key in HEADLINE_METRICS}


def bless_model(
    evaluation: dict[str, Any], run_context: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Decides whether the model may be deployed, with the reason in plain words."""
    return decide_blessing(evaluation, evaluation.get("production"), run_context, params)


def plot_confusion_matrix(predictions: pd.DataFrame, test_split: ImageDataset) -> Figure:
    """Draws the test split's confusion matrix, counts in each cell."""
    names = list(test_split.class_names)
    matrix = confusion_counts(predictions, names)
    size = max(4.0, 0.5 * len(names) + 2)
    figure = Figure(figsize=(size, size))
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(names)), names, rotation=90)
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    axes.set_title("Confusion matrix (test split)")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=color, fontsize=8)
    figure.tight_layout()
    return figure
