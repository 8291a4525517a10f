"""Scores a model, and the production model, on a test split streamed from its shards.

Probabilities come batch by batch; only the images the latency samples and the
worst-mistakes gallery show are read whole, by their index rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from visionops.dataplane.reader import ShardedDataset
from visionops.evaluation.gallery import plot_worst_mistakes, worst_mistakes
from visionops.evaluation.metrics import classification_metrics, measure_latency
from visionops.evaluation.production import ProductionModel
from visionops.image_dataset import ImageDataset
from visionops.modeling.inputs import image_batches
from visionops.modeling.prediction import predict_probabilities
from visionops.task import require_same_task


@dataclass(frozen=True)
class SplitEvaluation:
    """What scoring a model on a test split gives.

    Attributes:
        report: Accuracy, macro F1, per-class precision/recall/F1/support, calibration
            error, and the production model's scores on the same images (``production``).
        predictions: One row per test image, in index order: ``actual`` and
            ``predicted`` class names.
        gallery: The most confident mistakes.
        latency: Single-image latency and batch throughput (differs from run to run).
    """

    report: dict[str, Any]
    predictions: pd.DataFrame
    gallery: Figure
    latency: dict[str, float]


def require_comparable(
    split: ShardedDataset,
    production: ProductionModel | None,
    model_name: str,
    ingestion: dict[str, Any],
) -> None:
    """Raises unless ``split`` is the task of the production model (when there is one).

    Raises:
        DifferentTaskError: The production model learned other classes or another image
            shape; the message gives the command for a new model.
    """
    if production is None:
        return
    require_same_task(
        (split.class_names, split.image_shape),
        (production.class_names, production.image_shape),
        model_name,
        production.version,
        ingestion,
    )


def score_production(
    production: ProductionModel | None,
    batches: Iterable[Any],
    labels: np.ndarray,
    class_names: tuple[str, ...],
) -> dict[str, Any] | None:
    """The production model's metrics on the test images, or why they cannot be had.

    Args:
        production: The production model, or None when there is none.
        batches: The test images, uint8, in batches, in the order of ``labels``.
        labels: The test labels.
        class_names: The test split's classes.

    Returns:
        None without a production model; else its version and whether it is comparable,
        with its metrics when it is and the reason when it is not.
    """
    if production is None:
        return None
    probabilities = production.predict_batches(batches)
    if probabilities.shape[1] != len(class_names):
        why = f"has {probabilities.shape[1]} classes, not {len(class_names)}"
        return {"version": production.version, "comparable": False, "why": why}
    scored = classification_metrics(probabilities, labels, class_names)
    return {"version": production.version, "comparable": True, "metrics": scored}


def evaluate_split(
    model: keras.Model,
    split: ShardedDataset,
    production: ProductionModel | None,
    batch_size: int,
    latency_samples: int = 100,
    gallery_size: int = 16,
) -> SplitEvaluation:
    """Scores ``model`` (and ``production``, when there is one) on ``split``.

    Args:
        model: The candidate.
        split: The test split; its readable images are scored, in index order.
        production: The production model, or None.
        batch_size: Images per prediction batch.
        latency_samples: Single-image predictions timed.
        gallery_size: Mistakes drawn.

    Raises:
        SourceError: The split's records cannot be decoded.
    """
    index = split.read_index(["readable", "label", "source_id"])
    rows = np.flatnonzero(index["readable"].to_numpy(dtype=bool))
    labels = index["label"].to_numpy(dtype=np.int64)[rows]
    class_names = split.class_names
    probabilities = predict_probabilities(model, split, batch_size)
    report = classification_metrics(probabilities, labels, class_names)
    report["production"] = score_production(
        production, image_batches(split, batch_size), labels, class_names
    )
    # The latency samples, and at least a batch for the throughput.
    timed = split.read_images(rows[: max(latency_samples, batch_size)])
    latency = measure_latency(
        lambda images: model.predict_on_batch(images.astype(np.float32)), timed, latency_samples
    )
    names = np.asarray(class_names)
    predictions = pd.DataFrame(
        {"actual": names[labels], "predicted": names[probabilities.argmax(axis=1)]}
    )
    chosen = worst_mistakes(probabilities, labels, gallery_size)
    mistakes = ImageDataset(
        images=split.read_images(rows[chosen]),
        labels=labels[chosen],
        class_names=class_names,
        source_ids=index["source_id"].to_numpy(dtype=str)[rows[chosen]],
    )
    gallery = plot_worst_mistakes(mistakes, probabilities[chosen])
    return SplitEvaluation(report, predictions, gallery, latency)
