"""Drift: how far an incoming dataset's class shares and pixel intensities moved.

A *distribution profile* is a small JSON-ready summary of a dataset (class counts and
one intensity histogram per channel). The profile of the dataset the production model
was trained on is the reference; each new dataset's profile is compared with it by the
Jensen-Shannon distance (base 2, so between 0 for identical and 1 for disjoint).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from visionops.dataplane.reader import ShardedDataset
from visionops.errors import ConfigError

DRIFT_ACTIONS = ("warn", "fail")
PROFILE_FORMAT = 1
PROFILE_KEYS = (
    "format",
    "images",
    "image_shape",
    "class_names",
    "class_counts",
    "value_range",
    "bins",
    "channel_histograms",
)
PARAMETERS_PATH = "data_validation.drift"
LARGEST_CHANGES = 3


def _bin_indices(values: np.ndarray, low: float, high: float, bins: int) -> np.ndarray:
    scaled = np.floor((values - low) * (bins / (high - low)))
    return np.clip(scaled, 0, bins - 1).astype(np.intp)


def _channel_histogram(values: np.ndarray, low: float, high: float, bins: int) -> np.ndarray:
    if values.dtype.kind == "u" and values.dtype.itemsize <= 2:
        # Counting each possible value, then adding those counts up by bin, is much faster.
        table = _bin_indices(np.arange(2 ** (8 * values.dtype.itemsize)), low, high, bins)
        value_counts = np.bincount(values, minlength=len(table))
        return np.bincount(table, weights=value_counts, minlength=bins).astype(np.int64)
    values = values.astype(np.float64, copy=False)
    return np.bincount(_bin_indices(values[np.isfinite(values)], low, high, bins), minlength=bins)


def distribution_profile(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    value_range: tuple[float, float],
    bins: int = 32,
    chunk_size: int = 8192,
) -> dict[str, Any]:
    """Summarises a dataset's class counts and per-channel pixel intensity histograms.

    Non-finite pixels are not counted; values outside ``value_range`` go into the edge
    bins. Labels outside ``range(len(class_names))`` are left out of the class counts.

    Args:
        images: Images of shape ``[N, H, W, C]``, of any numeric dtype.
        labels: One integer label per image.
        class_names: The name of each class, indexed by label.
        value_range: The lowest and highest pixel value the histograms cover.
        bins: Histogram bins per channel.
        chunk_size: Images converted at a time, which bounds memory.

    Returns:
        A JSON-ready dict with the keys of :data:`PROFILE_KEYS`.

    Raises:
        ValueError: The arrays do not match or an argument is out of range.
    """
    low, high = float(value_range[0]), float(value_range[1])
    if images.ndim != 4 or len(labels) != len(images):
        raise ValueError(
            f"expected images [N, H, W, C] and N labels; got {images.shape} and {len(labels)}"
        )
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"value_range must be two finite numbers, low < high; got {value_range}")
    if bins < 1 or chunk_size < 1:
        raise ValueError(f"bins and chunk_size must be positive; got {bins} and {chunk_size}")
    channels = images.shape[3]
    histograms = np.zeros((channels, bins), dtype=np.int64)
    for start in range(0, len(images), chunk_size):
        pixels = images[start : start + chunk_size].reshape(-1, channels)
        for channel in range(channels):
            histograms[channel] += _channel_histogram(pixels[:, channel], low, high, bins)
    labels = np.asarray(labels).astype(np.int64)
    known = labels[(labels >= 0) & (labels < len(class_names))]
    return {
        "format": PROFILE_FORMAT,
        "images": len(images),
        "image_shape": [int(size) for size in images.shape[1:]],
        "class_names": [str(name) for name in class_names],
        "class_counts": np.bincount(known, minlength=len(class_names)).tolist(),
        "value_range": [low, high],
        "bins": bins,
        "channel_histograms": histograms.tolist(),
    }


def rebin_value_counts(counts: np.ndarray, low: float, high: float, bins: int) -> np.ndarray:
    """``[channels, 256]`` counts of each uint8 value, added up into ``bins`` bins over
    ``[low, high]`` per channel, exactly as :func:`distribution_profile` bins uint8
    pixels (values outside the range in the edge bins)."""
    table = _bin_indices(np.arange(256), low, high, bins)
    one_hot = np.zeros((256, bins), dtype=np.int64)
    one_hot[np.arange(256), table] = 1
    return np.asarray(counts, dtype=np.int64).reshape(-1, 256) @ one_hot


def dataset_profile(
    dataset: ShardedDataset,
    value_range: tuple[float, float],
    bins: int = 32,
    chunk_size: int = 8192,
) -> dict[str, Any]:
    """The :func:`distribution_profile` of a dataset version's readable images.

    Reads no image when the version holds its uint8 value counts
    (``dataset.json``'s ``histograms``); otherwise (pixels of another dtype) streams
    the readable images of the dataset's image shape ``chunk_size`` at a time.

    Args:
        dataset: The dataset version.
        value_range: The lowest and highest pixel value the histograms cover.
        bins: Histogram bins per channel.
        chunk_size: Images decoded at a time when streaming, which bounds memory.

    Returns:
        A JSON-ready dict with the keys of :data:`PROFILE_KEYS`.

    Raises:
        ValueError: An argument is out of range.
    """
    low, high = float(value_range[0]), float(value_range[1])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"value_range must be two finite numbers, low < high; got {value_range}")
    if bins < 1 or chunk_size < 1:
        raise ValueError(f"bins and chunk_size must be positive; got {bins} and {chunk_size}")
    shape = dataset.image_shape
    columns = ["label", "readable", "height", "width", "channels"]
    # An empty version's index has no columns but source_id.
    index = dataset.read_index(columns) if len(dataset) else pd.DataFrame(columns=columns)
    readable = index["readable"].fillna(False).to_numpy(dtype=bool)
    labels = index["label"].to_numpy(dtype=np.int64)[readable]
    if dataset.meta.histograms is not None:
        histograms = rebin_value_counts(np.asarray(dataset.meta.histograms), low, high, bins)
    else:
        histograms = np.zeros((shape[2], bins), dtype=np.int64)
        sides = index[["height", "width", "channels"]].to_numpy(dtype=float)
        rows = np.flatnonzero(readable & (sides == np.asarray(shape)).all(axis=1))
        for _, chunk in dataset.iter_chunks(chunk_size, rows):
            pixels = chunk.images.reshape(-1, shape[2])
            for channel in range(shape[2]):
                histograms[channel] += _channel_histogram(pixels[:, channel], low, high, bins)
    class_names = dataset.class_names
    known = labels[(labels >= 0) & (labels < len(class_names))]
    return {
        "format": PROFILE_FORMAT,
        "images": int(readable.sum()),
        "image_shape": [int(size) for size in shape],
        "class_names": [str(name) for name in class_names],
        "class_counts": np.bincount(known, minlength=len(class_names)).tolist(),
        "value_range": [low, high],
        "bins": bins,
        "channel_histograms": histograms.tolist(),
    }


def _check_profile(profile: Any, role: str) -> None:
    fix = "rebuild it from its dataset"
    if not isinstance(profile, dict):
        raise ConfigError(f"the {role} profile must be a mapping; got {type(profile).__name__}")
    for key in PROFILE_KEYS:
        if key not in profile:
            raise ConfigError(f"the {role} profile has no {key!r}; {fix}")
    if profile["format"] != PROFILE_FORMAT:
        raise ConfigError(f"the {role} profile has format {profile['format']!r}, not 1; {fix}")
    if len(profile["class_counts"]) != len(profile["class_names"]):
        raise ConfigError(f"the {role} profile's 'class_counts' and 'class_names' differ in length")
    if any(len(row) != profile["bins"] for row in profile["channel_histograms"]):
        raise ConfigError(f"the {role} profile's 'channel_histograms' rows are not 'bins' long")


def _check_settings(params: dict[str, Any], name: str) -> tuple[float, str]:
    path = f"{PARAMETERS_PATH}.{name}"
    settings = params[name]
    if not isinstance(settings, dict):
        raise ConfigError(f"{path} must be a mapping with max_distance and action")
    action = settings.get("action")
    if action not in DRIFT_ACTIONS:
        raise ConfigError(f"{path}.action must be 'warn' or 'fail'; got {action!r}")
    max_distance = settings.get("max_distance")
    number = isinstance(max_distance, int | float) and not isinstance(max_distance, bool)
    if not number or not 0 <= max_distance <= 1:
        raise ConfigError(f"{path}.max_distance must be a number from 0 to 1; got {max_distance!r}")
    return float(max_distance), action


def _js_distance(counts: np.ndarray, reference_counts: np.ndarray) -> float:
    total, reference_total = counts.sum(), reference_counts.sum()
    if total == 0 or reference_total == 0:
        return 0.0 if total == reference_total else 1.0
    shares, reference_shares = counts / total, reference_counts / reference_total
    middle = (shares + reference_shares) / 2
    divergence = sum(
        np.sum(side[side > 0] * np.log2(side[side > 0] / middle[side > 0]))
        for side in (shares, reference_shares)
    )
    return float(np.clip(np.sqrt(max(divergence / 2, 0.0)), 0.0, 1.0))


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.zeros(len(counts))


def _check(
    name: str, distance: float, limit: float, action: str, what: str, extra: str
) -> dict[str, Any]:
    status = "ok" if distance <= limit else action
    verdict = "is within" if status == "ok" else "exceeds"
    return {
        "check": name,
        "distance": round(distance, 6),
        "max_distance": limit,
        "action": action,
        "status": status,
        "detail": f"Jensen-Shannon distance {distance:.3f} between {what} and the reference's "
        f"{verdict} {limit:g}; {extra}",
    }


def _aligned_class_counts(current: dict, reference: dict) -> tuple[list[str], np.ndarray]:
    names = list(reference["class_names"])
    names += [name for name in current["class_names"] if name not in names]
    counts = np.zeros((2, len(names)))
    for row, profile in enumerate((current, reference)):
        for name, count in zip(profile["class_names"], profile["class_counts"], strict=True):
            counts[row, names.index(name)] += count
    return names, counts


def _class_check(current: dict, reference: dict, limit: float, action: str) -> dict[str, Any]:
    names, counts = _aligned_class_counts(current, reference)
    now, then = _shares(counts[0]), _shares(counts[1])
    order = np.argsort(-np.abs(now - then), kind="stable")[:LARGEST_CHANGES]
    changes = "largest changes: " + ", ".join(
        f"class '{names[i]}' {then[i]:.1%} -> {now[i]:.1%}" for i in order
    )
    distance = _js_distance(counts[0], counts[1])
    return _check("class_distribution", distance, limit, action, "class shares", changes)


def _mean_intensity(histogram: np.ndarray, profile: dict) -> str:
    if histogram.sum() == 0:
        return "none (no pixels)"
    (low, high), bins = profile["value_range"], profile["bins"]
    centres = low + (np.arange(bins) + 0.5) * (high - low) / bins
    decimals = max(0, 3 - math.floor(math.log10(high - low)))  # 1 decimal for 0..255
    return f"{np.average(centres, weights=histogram):.{decimals}f}"


def _intensity_checks(
    current: dict, reference: dict, limit: float, action: str
) -> list[dict[str, Any]]:
    settings = [(p["bins"], list(p["value_range"])) for p in (current, reference)]
    if settings[0] != settings[1]:
        detail = (
            f"the profiles are not comparable: {settings[0][0]} bins over {settings[0][1]} now, "
            f"{settings[1][0]} bins over {settings[1][1]} in the reference; "
            "profile both with the same bins and value_range"
        )
        return [
            _check("intensity", 1.0, limit, action, "", "") | {"status": action, "detail": detail}
        ]
    histograms = [np.asarray(p["channel_histograms"], dtype=float) for p in (current, reference)]
    note = ""
    if len(histograms[0]) != len(histograms[1]):
        note = f" ({len(histograms[1])} channel(s) in the reference, {len(histograms[0])} now)"
        histograms = [h.sum(axis=0, keepdims=True) for h in histograms]
        names = ["all channels"]
    else:
        names = [f"channel {index}" for index in range(len(histograms[0]))]
    checks = []
    for index, name in enumerate(names):
        now, then = histograms[0][index], histograms[1][index]
        means = (
            f"mean intensity {_mean_intensity(then, reference)} in the reference, "
            f"{_mean_intensity(now, current)} now{note}"
        )
        what = f"the {name} intensity histogram"
        checks.append(
            _check(f"intensity[{name}]", _js_distance(now, then), limit, action, what, means)
        )
    return checks


def compare_profiles(
    current: dict[str, Any], reference: dict[str, Any], params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Measures how far ``current`` drifted from ``reference``, check by check.

    Classes are matched by name; a class missing on one side counts as 0 there. If the
    channel counts differ, one histogram summed over all channels is compared; if the
    bins or value range differ, the intensity check gets distance 1 and its action.

    Args:
        current: The profile of the incoming dataset.
        reference: The profile of the dataset the production model was trained on.
        params: ``class_distribution`` and/or ``intensity``, each with ``max_distance``
            (0 to 1) and ``action`` (``"warn"`` or ``"fail"``); a check left out is not run.

    Returns:
        One dict per check: ``check``, ``distance``, ``max_distance``, ``action``,
        ``status`` (``"ok"`` or the action) and a one-sentence ``detail``.

    Raises:
        ConfigError: A parameter is invalid or a profile is malformed.
    """
    params = params or {}
    names = [name for name in ("class_distribution", "intensity") if name in params]
    settings = {name: _check_settings(params, name) for name in names}
    _check_profile(current, "current")
    _check_profile(reference, "reference")
    checks = []
    if "class_distribution" in settings:
        checks.append(_class_check(current, reference, *settings["class_distribution"]))
    if "intensity" in settings:
        checks.extend(_intensity_checks(current, reference, *settings["intensity"]))
    return checks


def format_drift(checks: list[dict[str, Any]]) -> list[str]:
    """One report line per check that is not ok; an empty list when all are."""
    return [
        f"  - drift {check['check']}: {check['detail']} (action: {check['action']})"
        for check in checks
        if check["status"] != "ok"
    ]


def plot_distributions(current: dict[str, Any], reference: dict[str, Any] | None) -> Figure:
    """Draws class shares, then each channel's intensity shares, now against the reference.

    Args:
        current: The profile of the incoming dataset.
        reference: The reference profile, or ``None`` to draw the current one alone.

    Returns:
        A figure with one panel for class shares and one per channel.
    """
    _check_profile(current, "current")
    if reference is not None:
        _check_profile(reference, "reference")
    channels = len(current["channel_histograms"])
    figure = Figure(figsize=(4.5 * (1 + channels), 4), layout="constrained")
    class_axes, *channel_axes = figure.subplots(1, 1 + channels, squeeze=False)[0]
    names, counts = _aligned_class_counts(current, reference or current)
    positions = np.arange(len(names))
    if reference is None:
        class_axes.bar(positions, _shares(counts[0]), 0.8, label="current")
    else:
        class_axes.bar(positions - 0.2, _shares(counts[0]), 0.4, label="current")
        class_axes.bar(positions + 0.2, _shares(counts[1]), 0.4, label="reference")
    # Names turn once their labels would run into each other (longer names, sooner).
    crowded = len(names) * max((len(str(name)) for name in names), default=0) > 40
    class_axes.set_xticks(
        positions, names, rotation=45 if crowded else 0, ha="right" if crowded else "center"
    )
    class_axes.set_title("Class shares" + (" (no reference)" if reference is None else ""))
    class_axes.set(xlabel="Class", ylabel="Share of images")
    for index, axes in enumerate(channel_axes):
        for profile, role in ((current, "current"), (reference, "reference")):
            if profile is None:
                continue
            histograms = np.asarray(profile["channel_histograms"], dtype=float)
            # A reference with another channel count is drawn summed over its channels.
            same = len(histograms) == channels
            histogram = histograms[index] if same else histograms.sum(axis=0)
            edges = np.linspace(*profile["value_range"], profile["bins"] + 1)
            axes.stairs(
                _shares(histogram), edges, baseline=None, label=role if same else f"{role} (all)"
            )
        axes.set_title(f"Channel {index} intensity")
        axes.set(xlabel="Pixel value", ylabel="Share of pixels")
        if reference is not None:
            axes.legend()
    if reference is not None:
        class_axes.legend()
    return figure
