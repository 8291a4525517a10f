"""confusion_counts: every test image counted once, in its actual and predicted class."""

import numpy as np
import pandas as pd
import pytest

from visionops.evaluation.confusion import confusion_counts


def test_counts_each_pair_of_actual_and_predicted_class() -> None:
    predictions = pd.DataFrame(
        {
            "actual": ["cat", "cat", "dog", "dog", "dog", "bird"],
            "predicted": ["cat", "dog", "dog", "dog", "bird", "bird"],
        }
    )
    counts = confusion_counts(predictions, ["bird", "cat", "dog"])
    assert counts.tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 2]]
    assert counts.sum() == len(predictions)


def test_names_read_back_as_integers_count_as_their_class() -> None:
    """The digits' class names "0".."9" come back from CSV as integers."""
    predictions = pd.DataFrame({"actual": [0, 1, 1, 9], "predicted": [0, 1, 7, 9]})
    counts = confusion_counts(predictions, [str(digit) for digit in range(10)])
    assert np.trace(counts) == 3
    assert counts[1, 7] == 1
    assert counts.sum() == 4


def test_a_class_that_is_not_in_the_names_is_refused() -> None:
    """A name that did not survive the CSV round trip ("01" read as 1) stops the plot
    instead of leaving images out of every cell."""
    predictions = pd.DataFrame({"actual": [1, 2], "predicted": [1, 1]})
    with pytest.raises(ValueError, match=r"classes \['1', '2'\] that are not among"):
        confusion_counts(predictions, ["01", "02"])


def test_no_predictions_give_a_matrix_of_zeros() -> None:
    predictions = pd.DataFrame({"actual": [], "predicted": []})
    assert confusion_counts(predictions, ["a", "b"]).tolist() == [[0, 0], [0, 0]]
