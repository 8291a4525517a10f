"""Confusion counts: how many test images of each actual class got each predicted class."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def confusion_counts(predictions: pd.DataFrame, class_names: Sequence[str]) -> np.ndarray:
    """Counts the predictions of each actual class as each class.

    Class names are compared as text: read back from CSV, names such as the digits'
    ``"0"``..``"9"`` come as integers, and ``1`` still means class ``"1"``.

    Args:
        predictions: One row per image, the class names in columns ``actual`` and
            ``predicted``.
        class_names: The classes, in the order of the matrix's rows and columns.

    Returns:
        ``[classes, classes]`` integers: row ``i``, column ``j`` counts the images of
        class ``class_names[i]`` predicted as ``class_names[j]``; they sum to the rows.

    Raises:
        ValueError: A row names a class that is not in ``class_names`` (such as a
            zero-padded name like ``"01"`` that CSV read back as ``1``); counting it
            nowhere would draw a matrix that misses images.
    """
    names = [str(name) for name in class_names]
    position = {name: index for index, name in enumerate(names)}
    actual = predictions["actual"].astype(str)
    predicted = predictions["predicted"].astype(str)
    unknown = sorted((set(actual) | set(predicted)) - set(position))
    if unknown:
        raise ValueError(
            f"predictions name classes {unknown[:5]} that are not among the classes {names}; "
            "the predictions and the class names come from different datasets, or a name "
            "did not survive the CSV round trip (load the predictions with dtype str)"
        )
    rows = actual.map(position).to_numpy(dtype=np.intp)
    columns = predicted.map(position).to_numpy(dtype=np.intp)
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(counts, (rows, columns), 1)
    return counts
