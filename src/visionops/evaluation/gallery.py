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


def plot_worst_mistakes(split: ImageDataset, probabilities: np.ndarray, count: int = 16) -> Figure:
    """A grid of the most confident mistakes, each titled ``true -> predicted (p)``."""
    chosen = worst_mistakes(probabilities, split.labels, count)
    columns = max(1, min(4, len(chosen)))
    rows = max(1, math.ceil(len(chosen) / columns))
    # At least two columns wide, so that the title fits above one image.
    figure = Figure(figsize=(2.2 * max(columns, 2), 2.4 * rows + 0.6), layout="constrained")
    # Two short lines: a gallery of one or two images is too narrow for one long line.
    title = f"Worst mistakes: the {len(chosen)} most confident\nof the wrong predictions"
    figure.suptitle(title if len(chosen) else "No mistakes on the test split")
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    names = split.class_names
    for axis in axes:
        axis.axis("off")
    for axis, index in zip(axes, chosen, strict=False):
        image = split.images[index]
        predicted = int(probabilities[index].argmax())
        shown = image[..., 0] if image.shape[-1] == 1 else image
        axis.imshow(shown, cmap="gray" if image.shape[-1] == 1 else None, vmin=0, vmax=255)
        axis.set_title(
            f"{names[split.labels[index]]} -> {names[predicted]} "
            f"({probabilities[index, predicted]:.2f})\n{split.source_ids[index]}",
            fontsize=7,
        )
    return figure
