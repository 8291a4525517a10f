"""A picture of the worst mistakes: the wrong predictions made with most confidence."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from visionops.image_dataset import ImageDataset


def worst_mistakes(probabilities: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to ``count`` misclassified images, most confident first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]] if len(wrong) else np.empty(0)
    return wrong[np.argsort(-confidence, kind="stable")][:count]


def plot_worst_mistakes(mistakes: ImageDataset, probabilities: np.ndarray) -> Figure:
    """A grid of mistakes, in the order given, each titled ``true -> predicted (p)``
    and its source id.

    Args:
        mistakes: The images to draw (see :func:`worst_mistakes` for which), with
            their true labels, class names and source ids.
        probabilities: The model's class probabilities for those images, row for row.
    """
    count = len(mistakes)
    columns = max(1, min(4, count))
    rows = max(1, math.ceil(count / columns))
    # At least two columns wide, so that the title fits above one image.
    figure = Figure(figsize=(2.2 * max(columns, 2), 2.4 * rows + 0.6), layout="constrained")
    # Two short lines: a gallery of one or two images is too narrow for one long line.
    title = f"Worst mistakes: the {count} most confident\nof the wrong predictions"
    figure.suptitle(title if count else "No mistakes on the test split")
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    names = mistakes.class_names
    for axis in axes:
        axis.axis("off")
    for index, axis in zip(range(count), axes, strict=False):
        image = mistakes.images[index]
        predicted = int(probabilities[index].argmax())
        shown = image[..., 0] if image.shape[-1] == 1 else image
        axis.imshow(shown, cmap="gray" if image.shape[-1] == 1 else None, vmin=0, vmax=255)
        axis.set_title(
            f"{names[mistakes.labels[index]]} -> {names[predicted]} "
            f"({probabilities[index, predicted]:.2f})\n{mistakes.source_ids[index]}",
            fontsize=7,
        )
    return figure
