"""Nodes of the evaluation pipeline."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from visionops.datasets.champion import ProductionModel
from visionops.evaluation.blessing import decide_blessing
from visionops.evaluation.gallery import plot_worst_mistakes
from visionops.evaluation.metrics import classification_metrics, measure_latency
from visionops.image_dataset import ImageDataset
from visionops.modeling.prediction import predict_probabilities


def _score_production(
    production: ProductionModel | None, test_split: ImageDataset, batch_size: int
) -> dict[str, Any] | None:
    """The production model's metrics on this test split, or why it cannot be scored."""
    if production is None:
        return None
    if production.image_shape != test_split.image_shape:
        why = (
            f"takes {production.image_shape} images, the test split holds {test_split.image_shape}"
        )
        return {"version": production.version, "comparable": False, "why": why}
    if production.class_names and production.class_names != test_split.class_names:
        why = f"serves classes {list(production.class_names)}, not {list(test_split.class_names)}"
        return {"version": production.version, "comparable": False, "why": why}
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
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, Figure]:
    """Scores the model, and the production model, on the test split.

    Returns:
        Metrics (accuracy, macro F1, per-class precision/recall/F1, calibration error,
        latency, and the production model's metrics on the same split), one row per
        test image with actual and predicted class for the DVC confusion-matrix plot,
        and a gallery of the most confident mistakes.
    """
    batch_size = int(params["batch_size"])
    probabilities = predict_probabilities(model, test_split, batch_size)
    metrics = classification_metrics(probabilities, test_split.labels, test_split.class_names)
    metrics["latency"] = measure_latency(
        lambda images: model.predict_on_batch(images.astype(np.float32)),
        test_split.images,
        int(params.get("latency_samples", 100)),
    )
    metrics["production"] = _score_production(production_model, test_split, batch_size)
    names = np.asarray(test_split.class_names)
    predictions = pd.DataFrame(
        {"actual": names[test_split.labels], "predicted": names[probabilities.argmax(axis=1)]}
    )
    gallery = plot_worst_mistakes(test_split, probabilities, int(params.get("gallery_size", 16)))
    return metrics, predictions, gallery


def bless_model(
    metrics: dict[str, Any], run_context: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Decides whether the model may be deployed, with the reason in plain words."""
    return decide_blessing(metrics, metrics.get("production"), run_context, params)


def plot_confusion_matrix(predictions: pd.DataFrame, test_split: ImageDataset) -> Figure:
    """Draws the test split's confusion matrix, counts in each cell."""
    names = list(test_split.class_names)
    matrix = confusion_matrix(predictions["actual"], predictions["predicted"], labels=names)
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
