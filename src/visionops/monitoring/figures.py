"""The live figures and their alerts: drift, predicted classes, confidence, accuracy.

:class:`LiveCounts` adds up what the figures need from prediction rows and feedback
labels; :func:`judge` compares them with a version's :class:`Reference`, using data
validation's own checks (:func:`visionops.validation.drift.compare_profiles`) for the
intensity histograms and the class shares. ``visionops monitor`` counts the rows of
the log; the server counts its recent traffic the same way for ``/metrics``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from visionops.monitoring.records import VALUES
from visionops.monitoring.reference import Reference
from visionops.monitoring.settings import Thresholds
from visionops.validation.drift import compare_profiles, rebin_value_counts

OK, ALERT, NOT_JUDGED = "ok", "alert", "not judged"


@dataclass
class LiveCounts:
    """What a window of traffic and feedback adds up to.

    Attributes:
        images: Images predicted.
        profiled: Images whose pixel value counts are in ``value_counts``.
        value_counts: ``[channels, 256]`` pixel value counts of the decodable ones.
        sizes: Images by (height, width, channels); (0, 0, 0) when not read (an image
            the server did not decode), (-1, -1, -1) when no image.
        predicted: Images by predicted class.
        confidence_sum: Sum of the top-class probabilities.
        labelled: Feedback labels, by (true class, predicted class).
    """

    images: int = 0
    profiled: int = 0
    value_counts: np.ndarray | None = None
    sizes: Counter = field(default_factory=Counter)
    predicted: Counter = field(default_factory=Counter)
    confidence_sum: float = 0.0
    labelled: Counter = field(default_factory=Counter)

    def add_image(
        self, predicted: str, confidence: float, shape: tuple[int, int, int], counts: Any
    ) -> None:
        """Counts one predicted image (``counts``: its ``[channels, 256]`` or None)."""
        self.images += 1
        self.predicted[predicted] += 1
        self.confidence_sum += float(confidence)
        self.sizes[tuple(int(side) for side in shape)] += 1
        if counts is not None:
            self.add_counts(counts)

    def add_counts(self, counts: Any) -> None:
        """Adds one image's ``[channels, 256]`` pixel value counts (if of the same channels)."""
        counts = np.asarray(counts, dtype=np.int64)
        if self.value_counts is None:
            self.value_counts = counts.copy()
        elif self.value_counts.shape == counts.shape:
            self.value_counts += counts
        else:
            return
        self.profiled += 1

    def add_label(self, actual: str, predicted: str) -> None:
        """Counts one feedback label next to what was predicted for that image."""
        self.labelled[actual, predicted] += 1

    def merge(self, other: LiveCounts) -> None:
        """Adds ``other``'s counts to these."""
        self.images += other.images
        self.sizes.update(other.sizes)
        self.predicted.update(other.predicted)
        self.confidence_sum += other.confidence_sum
        self.labelled.update(other.labelled)
        if other.value_counts is not None:
            if self.value_counts is None:
                self.value_counts = other.value_counts.copy()
            elif self.value_counts.shape == other.value_counts.shape:
                self.value_counts += other.value_counts
            else:
                return
            self.profiled += other.profiled


def _alert(check: str, value: float, threshold: float, detail: str) -> dict[str, Any]:
    return {"check": check, "value": round(value, 6), "threshold": threshold, "detail": detail}


def live_profile(counts: LiveCounts, reference: dict[str, Any]) -> dict[str, Any]:
    """The counts as a distribution profile binned as ``reference`` is, class counts
    being the predicted classes (see :func:`visionops.validation.drift.distribution_profile`)."""
    low, high = reference["value_range"]
    bins = int(reference["bins"])
    channels = len(reference["channel_histograms"])
    values = (
        counts.value_counts if counts.value_counts is not None else np.zeros((channels, VALUES))
    )
    names = list(reference["class_names"])
    return {
        **reference,
        "images": counts.images,
        "class_counts": [counts.predicted.get(name, 0) for name in names],
        "channel_histograms": rebin_value_counts(values, low, high, bins).tolist(),
    }


def _input_drift(counts: LiveCounts, reference: Reference, thresholds: Thresholds) -> dict:
    # Judged on the images whose pixels were read (all captured ones, for the monitor).
    enough = counts.profiled >= thresholds.min_predictions
    result: dict[str, Any] = {"checks": []}
    if reference.profile is None:
        result["note"] = f"{reference.origin} kept no data profile: input drift not measured"
        return result
    checks = compare_profiles(
        live_profile(counts, reference.profile),
        reference.profile,
        {"intensity": {"max_distance": thresholds.intensity_max_distance, "action": "warn"}},
    )
    for check in checks:
        check["status"] = (ALERT if check["status"] != OK else OK) if enough else NOT_JUDGED
    height, width, depth = reference.image_shape or reference.profile["image_shape"]
    expected = f"{height}x{width}x{depth}"
    measured = {size: count for size, count in counts.sizes.items() if size != (0, 0, 0)}
    off = sum(count for size, count in measured.items() if size != (height, width, depth))
    read = sum(measured.values())
    share = off / read if read else 0.0
    judged = read >= thresholds.min_predictions
    size_status = (
        (ALERT if share > thresholds.image_size_max_share else OK) if judged else NOT_JUDGED
    )
    checks.append(
        {
            "check": "image_size",
            "share": round(share, 6),
            "max_share": thresholds.image_size_max_share,
            "status": size_status,
            "detail": f"{off} of {read} images read are not {expected} as the training "
            f"images are ({share:.1%}; at most {thresholds.image_size_max_share:.1%})",
            "sizes": {
                f"{h}x{w}x{c}": count for (h, w, c), count in Counter(measured).most_common(5)
            },
        }
    )
    result["checks"] = checks
    result["images_read"] = counts.profiled
    result["distance"] = max((c.get("distance", 0.0) for c in checks), default=0.0)
    return result


def _class_distribution(counts: LiveCounts, reference: Reference, thresholds: Thresholds) -> dict:
    if reference.profile is None or reference.test_class_counts is None:
        return {"status": NOT_JUDGED, "detail": f"{reference.origin} records no test split"}
    test = {
        **reference.profile,
        "class_names": list(reference.class_names or ()),
        "class_counts": list(reference.test_class_counts),
    }
    current = live_profile(counts, test)
    (check,) = compare_profiles(
        current,
        test,
        {"class_distribution": {"max_distance": thresholds.class_max_distance, "action": "warn"}},
    )
    enough = counts.images >= thresholds.min_predictions
    check["status"] = (ALERT if check["status"] != OK else OK) if enough else NOT_JUDGED
    check["detail"] = check["detail"].replace("class shares", "predicted class shares", 1)
    check["detail"] = check["detail"].replace("the reference's", "the test split's", 1)
    check["predicted"] = dict(counts.predicted)
    return check


def _accuracy(counts: LiveCounts, thresholds: Thresholds) -> dict[str, Any]:
    labels = sum(counts.labelled.values())
    correct = sum(n for (actual, predicted), n in counts.labelled.items() if actual == predicted)
    by_class: Counter = Counter()
    hits: Counter = Counter()
    for (actual, predicted), n in counts.labelled.items():
        by_class[actual] += n
        hits[actual] += n if actual == predicted else 0
    accuracy = correct / labels if labels else None
    status = NOT_JUDGED
    if labels >= thresholds.min_labels and accuracy is not None:
        status = ALERT if accuracy < thresholds.min_accuracy else OK
    return {
        "labels": labels,
        "accuracy": None if accuracy is None else round(accuracy, 6),
        "min_accuracy": thresholds.min_accuracy,
        "min_labels": thresholds.min_labels,
        "per_class_recall": {
            name: round(hits[name] / total, 6) for name, total in sorted(by_class.items())
        },
        "status": status,
    }


def judge(counts: LiveCounts, reference: Reference, thresholds: Thresholds) -> dict[str, Any]:
    """Every live figure next to its threshold, and ``alerts``: the checks past one.

    Drift and confidence are judged from ``min_predictions`` images on, accuracy from
    ``min_labels`` labels on; below, their status is ``not judged``.
    """
    enough = counts.images >= thresholds.min_predictions
    drift = _input_drift(counts, reference, thresholds)
    classes = _class_distribution(counts, reference, thresholds)
    mean_confidence = counts.confidence_sum / counts.images if counts.images else None
    confidence = {
        "mean": None if mean_confidence is None else round(mean_confidence, 6),
        "min_mean": thresholds.min_mean_confidence,
        "status": NOT_JUDGED
        if not enough or mean_confidence is None
        else (ALERT if mean_confidence < thresholds.min_mean_confidence else OK),
    }
    accuracy = _accuracy(counts, thresholds)
    alerts = []
    for check in drift["checks"]:
        if check["status"] == ALERT:
            value = check.get("distance", check.get("share", 0.0))
            limit = check.get("max_distance", check.get("max_share", 0.0))
            alerts.append(_alert(f"input_drift.{check['check']}", value, limit, check["detail"]))
    if classes.get("status") == ALERT:
        alerts.append(
            _alert(
                "class_distribution",
                classes["distance"],
                classes["max_distance"],
                classes["detail"],
            )
        )
    if confidence["status"] == ALERT:
        alerts.append(
            _alert(
                "confidence",
                confidence["mean"],
                thresholds.min_mean_confidence,
                f"mean confidence {confidence['mean']:.3f} is below "
                f"{thresholds.min_mean_confidence:g}",
            )
        )
    if accuracy["status"] == ALERT:
        alerts.append(
            _alert(
                "accuracy",
                accuracy["accuracy"],
                thresholds.min_accuracy,
                f"live accuracy {accuracy['accuracy']:.3f} on {accuracy['labels']} feedback "
                f"labels is below {thresholds.min_accuracy:g}",
            )
        )
    return {
        "reference": reference.origin,
        "images": counts.images,
        "input_drift": drift,
        "class_distribution": classes,
        "confidence": confidence,
        "accuracy": accuracy,
        "alerts": alerts,
    }
