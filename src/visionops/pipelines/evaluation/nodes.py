"""Nodes of the evaluation pipeline."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from visionops.image_dataset import ImageDataset
from visionops.modeling.prediction import predict_probabilities


def evaluate_model(
    model: keras.Model, test_split: ImageDataset, params: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Scores the model on the test split.

    Returns:
        Metrics (accuracy, macro F1, test size), and one row per test image with the
        actual and predicted class names, for the DVC confusion-matrix plot.
    """
    probabilities = predict_probabilities(model, test_split, int(params["batch_size"]))
    predicted = probabilities.argmax(axis=1)
    class_ids = list(range(len(test_split.class_names)))
    metrics = {
        "accuracy": float(accuracy_score(test_split.labels, predicted)),
        "macro_f1": float(
            f1_score(
                test_split.labels, predicted, labels=class_ids, average="macro", zero_division=0
            )
        ),
        "test_images": len(test_split),
    }
    names = np.asarray(test_split.class_names)
    predictions = pd.DataFrame({"actual": names[test_split.labels], "predicted": names[predicted]})
    return metrics, predictions


def bless_model(metrics: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Decides whether the model may be deployed, with the reason in plain words."""
    minimum = float(params["min_accuracy"])
    accuracy = metrics["accuracy"]
    blessed = accuracy >= minimum
    verdict = "meets" if blessed else "is below"
    return {
        "blessed": blessed,
        "reason": f"test accuracy {accuracy:.4f} {verdict} the minimum {minimum:.4f}",
        "thresholds": {"min_accuracy": minimum},
    }


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
