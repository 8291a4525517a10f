"""Metrics: per-class scores, calibration error, latency, the worst-mistakes gallery."""

from __future__ import annotations

import numpy as np

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


def test_latency_is_measured_per_image() -> None:
    calls = []
    latency = measure_latency(lambda images: calls.append(len(images)), np.zeros((4, 2, 2, 1)), 10)
    assert calls.count(1) == 11 and calls[-1] == 4
    assert latency["p99_ms"] >= latency["p50_ms"] >= 0


def test_the_gallery_shows_the_most_confident_mistakes_first() -> None:
    probabilities = np.asarray([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    labels = np.asarray([0, 0, 0, 1])
    assert worst_mistakes(probabilities, labels, 5).tolist() == [1, 2]
    split = ImageDataset(
        np.zeros((4, 4, 4, 1), np.uint8), labels, ("zero", "one"), np.asarray(list("wxyz"))
    )
    figure = plot_worst_mistakes(split, probabilities, 5)
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert titles[0].startswith("zero -> one (0.80)")
