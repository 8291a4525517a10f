"""Metrics: per-class scores, calibration error, latency, the worst-mistakes gallery."""

from __future__ import annotations

import numpy as np
import pytest

from visionops.evaluation.gallery import plot_worst_mistakes, worst_mistakes
from visionops.evaluation.metrics import (
    classification_metrics,
    expected_calibration_error,
    measure_latency,
)
from visionops.image_dataset import ImageDataset


def test_perfectly_calibrated_predictions_have_no_calibration_error() -> None:
    probabilities = np.asarray([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(probabilities, np.asarray([0, 1])) == 0.0


def test_overconfident_mistakes_have_a_large_calibration_error() -> None:
    probabilities = np.asarray([[0.99, 0.01]] * 10)
    labels = np.asarray([0] * 5 + [1] * 5)
    assert abs(expected_calibration_error(probabilities, labels) - 0.49) < 1e-9


def test_per_class_scores_match_the_definitions() -> None:
    probabilities = np.eye(3)[[0, 0, 1, 2, 2]]
    labels = np.asarray([0, 1, 1, 2, 2])
    metrics = classification_metrics(probabilities, labels, ("a", "b", "c"))
    assert metrics["accuracy"] == 0.8
    assert metrics["per_class"]["a"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    assert metrics["per_class"]["b"]["recall"] == 0.5
    assert metrics["test_images"] == 5


# Six predictions over three classes; argmax, confidence and outcome of each:
#   0: label a, predicted a, 0.70, right     3: label b, predicted b, 0.75, right
#   1: label a, predicted a, 0.90, right     4: label a, predicted b, 0.55, wrong
#   2: label b, predicted a, 0.52, wrong     5: label c, predicted c, 0.49, right
SIX_PROBABILITIES = np.asarray(
    [
        [0.70, 0.20, 0.10],
        [0.90, 0.05, 0.05],
        [0.52, 0.30, 0.18],
        [0.15, 0.75, 0.10],
        [0.20, 0.55, 0.25],
        [0.25, 0.26, 0.49],
    ]
)
SIX_LABELS = np.asarray([0, 0, 1, 1, 0, 2])


def test_macro_f1_is_the_mean_of_the_per_class_f1_worked_by_hand() -> None:
    metrics = classification_metrics(SIX_PROBABILITIES, SIX_LABELS, ("a", "b", "c"))
    # a: predicted for 0, 1, 2 (2 right), labels 0, 1, 4: P = 2/3, R = 2/3, F1 = 2PR/(P+R) = 2/3
    # b: predicted for 3, 4 (1 right), labels 2, 3:       P = 1/2, R = 1/2, F1 = 1/2
    # c: predicted for 5 (right), label 5:                P = 1/1, R = 1/1, F1 = 1
    expected = {
        "a": {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3},
        "b": {"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2},
        "c": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    }
    for name, scores in expected.items():
        assert metrics["per_class"][name] == pytest.approx(scores), name
    # Macro F1 = (2/3 + 1/2 + 1) / 3 = 13/18: every class counts alike, so it is neither
    # accuracy (4/6) nor the F1 weighted by support ((3 * 2/3 + 2 * 1/2 + 1 * 1) / 6 = 4/6).
    assert metrics["macro_f1"] == pytest.approx(13 / 18)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["test_images"] == 6


def test_calibration_error_over_fifteen_bins_worked_by_hand() -> None:
    # Bins are (k/15, (k+1)/15]: 0.49 and 0.52 share bin 7 (0.467, 0.533] (ten bins
    # would part them at 0.5); 0.55 is in bin 8, 0.70 in 10, 0.75 in 11, 0.90 in 13.
    # Each bin adds (its share of the predictions) * |its accuracy - its mean confidence|:
    #   bin 7:  2/6 * |1/2 - (0.52 + 0.49)/2| = 2/6 * 0.005
    #   bin 8:  1/6 * |0 - 0.55| = 1/6 * 0.55       bin 10: 1/6 * |1 - 0.70| = 1/6 * 0.30
    #   bin 11: 1/6 * |1 - 0.75| = 1/6 * 0.25       bin 13: 1/6 * |1 - 0.90| = 1/6 * 0.10
    # ECE = (0.01 + 0.55 + 0.30 + 0.25 + 0.10) / 6 = 1.21 / 6
    assert expected_calibration_error(SIX_PROBABILITIES, SIX_LABELS) == pytest.approx(1.21 / 6)
    metrics = classification_metrics(SIX_PROBABILITIES, SIX_LABELS, ("a", "b", "c"))
    assert metrics["expected_calibration_error"] == pytest.approx(1.21 / 6)
    # One bin holding everything: |4/6 - (0.70 + 0.90 + 0.52 + 0.75 + 0.55 + 0.49)/6|
    # = |4/6 - 3.91/6| = 0.09/6; the bins are what keep over- and under-confidence
    # from cancelling out.
    one_bin = expected_calibration_error(SIX_PROBABILITIES, SIX_LABELS, bins=1)
    assert one_bin == pytest.approx(0.09 / 6)


def test_latency_is_measured_per_image() -> None:
    calls = []
    latency = measure_latency(lambda images: calls.append(len(images)), np.zeros((4, 2, 2, 1)), 10)
    assert calls.count(1) == 11 and calls[-1] == 4
    assert latency["p99_ms"] >= latency["p50_ms"] >= 0


def test_the_gallery_shows_the_most_confident_mistakes_first() -> None:
    probabilities = np.asarray([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    labels = np.asarray([0, 0, 0, 1])
    assert worst_mistakes(probabilities, labels, 5).tolist() == [1, 2]
    chosen = worst_mistakes(probabilities, labels, 5)
    images = np.stack([np.full((4, 4, 1), 10 * index, np.uint8) for index in range(4)])
    mistakes = ImageDataset(images[chosen], labels[chosen], ("zero", "one"), np.asarray(["x", "y"]))
    figure = plot_worst_mistakes(mistakes, probabilities[chosen])
    shown = [axis for axis in figure.axes if axis.images]
    assert [axis.get_title() for axis in shown] == [
        "zero -> one (0.80)\nx",
        "zero -> one (0.60)\ny",
    ]
    assert [int(axis.images[0].get_array()[0, 0]) for axis in shown] == [10, 20]
    assert "2 most confident" in figure.get_suptitle()
