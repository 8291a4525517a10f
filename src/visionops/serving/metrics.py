"""The server's metrics in Prometheus text exposition format (version 0.0.4).

Counters and histograms are updated on the event loop only, so they need no lock;
the gauges of served versions are read from the catalog when scraped.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from visionops.serving.models import ModelState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "visionops_serving"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    pairs = (*labels, extra) if extra else labels
    if not pairs:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in pairs) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Histogram:
    """Cumulative-bucket histogram of observations, one series per label set."""

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        self.name, self.help_text, self.buckets = name, help_text, tuple(buckets)
        self._counts: dict[Labels, list[int]] = defaultdict(lambda: [0] * len(self.buckets))
        self._sums: dict[Labels, float] = defaultdict(float)
        self._totals: dict[Labels, int] = defaultdict(int)

    def observe(self, labels: Labels, value: float) -> None:
        """Adds one observation to the series named by ``labels``."""
        counts = self._counts[labels]
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.buckets):  # above the last bound, only +Inf (the total) counts it
            counts[index] += 1
        self._sums[labels] += value
        self._totals[labels] += 1

    def render(self) -> Iterable[str]:
        """Lines of this histogram in text format."""
        yield f"# HELP {self.name} {self.help_text}"
        yield f"# TYPE {self.name} histogram"
        for labels, counts in sorted(self._counts.items()):
            cumulative = 0
            for bound, count in zip(self.buckets, counts, strict=True):
                cumulative += count
                yield f"{self.name}_bucket{_labels(labels, ('le', _number(bound)))} {cumulative}"
            total = self._totals[labels]
            yield f"{self.name}_bucket{_labels(labels, ('le', '+Inf'))} {total}"
            yield f"{self.name}_sum{_labels(labels)} {_number(self._sums[labels])}"
            yield f"{self.name}_count{_labels(labels)} {total}"


class Metrics:
    """Request counts, request latency, batch sizes, and the versions each model serves."""

    def __init__(self) -> None:
        self._requests: dict[Labels, int] = defaultdict(int)
        self._refusals: dict[str, int] = defaultdict(int)
        self.latency = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Time from a request's arrival to its response, by model, API method and protocol.",
            LATENCY_BUCKETS,
        )
        self.batch_size = Histogram(
            f"{PREFIX}_batch_size",
            "Examples per TensorFlow call, by model, version and signature.",
            BATCH_BUCKETS,
        )

    def observe_request(
        self,
        model: str,
        version: str,
        method: str,
        code: int,
        seconds: float,
        protocol: str = "rest",
    ) -> None:
        """Counts one answered request under the model and version that answered it.

        ``model`` and ``version`` are empty when the request named none that exists.
        ``code`` is the HTTP status of the outcome, whichever ``protocol`` (``rest`` or
        ``grpc``) carried it, so that one code means one outcome on both.
        """
        key = (
            ("model", model),
            ("version", version),
            ("method", method),
            ("code", str(code)),
            ("protocol", protocol),
        )
        self._requests[key] += 1
        labels = (("model", model), ("method", method), ("protocol", protocol))
        self.latency.observe(labels, seconds)

    def observe_refusal(self, reason: str) -> None:
        """Counts a request refused to protect the server: ``image_pixels``, ``inflight_bytes``."""
        self._refusals[reason] += 1

    def observe_batch(self, model: str, version: int, signature: str, size: int) -> None:
        """Records the size of one TensorFlow call."""
        labels = (("model", model), ("version", str(version)), ("signature", signature))
        self.batch_size.observe(labels, size)

    def render(self, models: Mapping[str, ModelState]) -> str:
        """All metrics in Prometheus text format."""
        name = f"{PREFIX}_requests_total"
        lines = [
            f"# HELP {name} Requests answered, by model, version, API method, HTTP code "
            "(the status REST gives the outcome) and protocol (rest or grpc).",
            f"# TYPE {name} counter",
            *(
                f"{name}{_labels(labels)} {count}"
                for labels, count in sorted(self._requests.items())
            ),
            f"# HELP {PREFIX}_refusals_total Requests refused before they could exhaust the "
            "server: an image declaring over --max-image-pixels (image_pixels), or request "
            "bodies in flight past --max-inflight-mb (inflight_bytes).",
            f"# TYPE {PREFIX}_refusals_total counter",
            *(
                f"{PREFIX}_refusals_total{_labels((('reason', reason),))} {count}"
                for reason, count in sorted(self._refusals.items())
            ),
            *self.latency.render(),
            *self.batch_size.render(),
        ]
        name = f"{PREFIX}_model_version"
        lines += [
            f"# HELP {name} The version a label serves; label 'default' answers unversioned calls.",
            f"# TYPE {name} gauge",
        ]
        for model, state in sorted(models.items()):
            served = dict(state.labels)
            if state.default_version() is not None:
                served["default"] = state.default_version()
            for label, version in sorted(served.items()):
                lines.append(f"{name}{_labels((('model', model), ('label', label)))} {version}")
        name = f"{PREFIX}_versions_available"
        lines += [f"# HELP {name} Versions loaded and serving.", f"# TYPE {name} gauge"]
        lines += [
            f"{name}{_labels((('model', model),))} {len(state.loaded)}"
            for model, state in sorted(models.items())
        ]
        return "\n".join(lines) + "\n"
