"""The confusion matrix as a picture, a count in each cell."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from visionops.evaluation.confusion import confusion_counts


def plot_confusion_matrix(predictions: pd.DataFrame, class_names: Sequence[str]) -> Figure:
    """Draws the confusion matrix of ``predictions`` (columns ``actual`` and
    ``predicted``), rows and columns in the order of ``class_names``."""
    names = list(class_names)
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
