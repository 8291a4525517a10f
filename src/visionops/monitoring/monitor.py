"""``visionops monitor``'s figures: a window of the prediction log and feedback against the
production version.

The window's rows answered by the production version are counted into
:class:`~visionops.monitoring.figures.LiveCounts` (with the feedback labels of those
requests) and judged against the version's reference; the confidence is also given per
time step, and the log's own state (segments, rows, images captured) beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from visionops.errors import ConfigError
from visionops.monitoring.feedback import FeedbackStore
from visionops.monitoring.figures import LiveCounts, judge
from visionops.monitoring.layout import list_segments, segment_start
from visionops.monitoring.records import (
    SUMMARY_COLUMNS,
    counts_array,
    decode,
    read_segments,
    value_counts,
)
from visionops.monitoring.reference import Reference, production_reference
from visionops.monitoring.settings import MonitoringSettings

TIME_STEPS = 24


def window_rows(
    folder: Path, model: str, since: datetime, until: datetime, channels: int | None = None
) -> pa.Table:
    """The summary columns of ``model``'s rows answered from ``since`` to ``until``.

    The captured images the server did not profile are decoded here (converted to
    ``channels`` when given), so every such row has its size and pixel value counts.
    """
    # A segment spans seconds; one that starts a day before ``since`` holds none of it.
    earliest = since.timestamp() - 86400
    paths = [
        path
        for path in list_segments(folder, model)
        if earliest <= segment_start(path).timestamp() <= until.timestamp()
    ]
    tables = []
    for path in paths:
        table = read_segments([path], SUMMARY_COLUMNS)
        times = table.column("time")
        keep = pc.and_(
            pc.greater_equal(times, since.timestamp()), pc.less_equal(times, until.timestamp())
        )
        if not pc.any(keep).as_py():
            continue
        if pc.any(pc.is_null(pc.filter(table.column("value_counts"), keep))).as_py():
            table = _profiled(path, table, channels)
        tables.append(table.filter(keep))
    if not tables:
        return read_segments([], SUMMARY_COLUMNS)
    return pa.concat_tables(tables)


def _profiled(path: Path, table: pa.Table, channels: int | None) -> pa.Table:
    """``table`` (a segment's rows) with the sizes and value counts of its captured images
    filled in."""
    images = read_segments([path], ("image",)).column("image").to_pylist()
    columns = table.select(["value_counts", "encoding", "height", "width", "channels"])
    counts, sizes = [], []
    for row, image in zip(columns.to_pylist(), images, strict=True):
        blob, size = row["value_counts"], (row["height"], row["width"], row["channels"])
        if blob is None and image is not None:
            pixels = decode(image, row["encoding"], size, channels)
            if pixels is None:
                size = (-1, -1, -1)
            else:
                blob, size = value_counts(pixels).tobytes(), tuple(map(int, pixels.shape))
        counts.append(blob)
        sizes.append(size)
    filled = {"value_counts": pa.array(counts, pa.binary())}
    for position, name in enumerate(("height", "width", "channels")):
        filled[name] = pa.array([size[position] for size in sizes], pa.int32())
    for name, values in filled.items():
        table = table.set_column(table.schema.get_field_index(name), name, values)
    return table


def count_rows(table: pa.Table) -> LiveCounts:
    """The live counts of prediction rows."""
    counts = LiveCounts()
    columns = table.select(
        ["predicted", "confidence", "height", "width", "channels", "value_counts"]
    ).to_pydict()
    for predicted, confidence, height, width, channels, values in zip(
        *columns.values(), strict=True
    ):
        counts.add_image(predicted, confidence, (height, width, channels), counts_array(values))
    return counts


def confidence_over_time(table: pa.Table, steps: int = TIME_STEPS) -> list[dict[str, Any]]:
    """Mean confidence and images per time step, ``steps`` equal steps over the rows' span."""
    if table.num_rows == 0:
        return []
    times = table.column("time").to_numpy()
    confidence = table.column("confidence").to_numpy()
    low, high = float(times.min()), float(times.max())
    edges = np.linspace(low, high if high > low else low + 1, steps + 1)
    which = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, steps - 1)
    series = []
    for step in range(steps):
        members = which == step
        if members.any():
            series.append(
                {
                    "from": datetime.fromtimestamp(edges[step], UTC).isoformat(),
                    "images": int(members.sum()),
                    "mean_confidence": round(float(confidence[members].mean()), 6),
                }
            )
    return series


def reference_for(registry: Path, model: str) -> Reference:
    """The production reference of ``model``.

    Raises:
        ConfigError: The model has no version in the registry.
    """
    reference = production_reference(registry, model)
    if reference is None:
        raise ConfigError(
            f"model {model!r} has no version in the registry {registry}; there is nothing "
            "in production to monitor"
        )
    return reference


@dataclass(frozen=True)
class Monitored:
    """What ``visionops monitor`` found: the figures (JSON-ready), and what they came from."""

    figures: dict[str, Any]
    counts: LiveCounts
    reference: Reference


def monitor(
    settings: MonitoringSettings,
    registry: Path,
    model: str,
    since: datetime,
    until: datetime | None = None,
) -> Monitored:
    """Every figure of ``model``'s production version over a window, and its alerts.

    Raises:
        ConfigError: The model has no version, or its reference is unreadable.
    """
    until = until or datetime.now(UTC)
    reference = reference_for(registry, model)
    folder = settings.log.folder
    channels = reference.image_shape[2] if reference.image_shape else None
    table = window_rows(folder, model, since, until, channels)
    served = table.filter(pc.equal(table.column("version"), reference.version))
    counts = count_rows(served)
    requests = set(served.column("request_id").to_pylist())
    for request_id, entry in FeedbackStore(folder, model).labelled().items():
        if request_id in requests:
            for actual, predicted in zip(entry["labels"], entry["predicted"], strict=True):
                counts.add_label(actual, predicted)
    figures = judge(counts, reference, settings.thresholds)
    figures["confidence"]["over_time"] = confidence_over_time(served)
    result = {
        "model": model,
        "version": reference.version,
        "window": {"since": since.isoformat(), "until": until.isoformat()},
        "requests": len(requests),
        **figures,
        "log": {
            "folder": str(folder),
            "rows_in_window": table.num_rows,
            "rows_of_other_versions": table.num_rows - served.num_rows,
            "segments": len(list_segments(folder, model)),
        },
    }
    return Monitored(result, counts, reference)
