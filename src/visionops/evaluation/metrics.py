"""Classification metrics, calibration error and inference latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 15
) -> float:
    """Expected calibration error: the gap between confidence and accuracy, averaged
    over equal-width confidence bins weighted by how many predictions fall in each."""
    if len(labels) == 0:
        return 0.0
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for index in range(bins):
        members = which == index
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def classification_metrics(
    probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro F1, per-class precision/recall/F1/support and calibration error."""
    predicted = probabilities.argmax(axis=1)
    class_ids = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=class_ids, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(
            f1_score(labels, predicted, labels=class_ids, average="macro", zero_division=0)
        ),
        "expected_calibration_error": expected_calibration_error(probabilities, labels),
        "test_images": len(labels),
        "per_class": {
            name: {
                "precision": float(precision[index]),
                "recall": float(recall[index]),
                "f1": float(f1[index]),
                "support": int(support[index]),
            }
            for index, name in enumerate(class_names)
        },
    }


def measure_latency(
    predict: Callable[[np.ndarray], Any], images: np.ndarray, samples: int
) -> dict[str, float]:
    """Single-image prediction latency (p50, p99, milliseconds) over ``samples`` calls,
    after one warm-up call, and batch throughput over all ``images``."""
    if len(images) == 0 or samples < 1:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "batch_images_per_s": 0.0}
    predict(images[:1])
    timings = []
    for index in range(samples):
        image = images[index % len(images)][None]
        start = time.perf_counter()
        predict(image)
        timings.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    predict(images)
    seconds = time.perf_counter() - start
    return {
        "p50_ms": round(float(np.percentile(timings, 50)), 3),
        "p99_ms": round(float(np.percentile(timings, 99)), 3),
        "batch_images_per_s": round(len(images) / seconds, 1) if seconds > 0 else 0.0,
    }
