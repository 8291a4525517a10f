"""The server's side of the production loop: request ids, the prediction log, feedback, gauges.

Every predict call gets a request id (REST: the ``X-Request-Id`` response header; gRPC:
``x-request-id`` in the trailing metadata) and, when the prediction log is on, is
handed to the :class:`~visionops.monitoring.recorder.PredictionRecorder`, which never
makes it wait. ``POST /v1/models/NAME:feedback`` records labels for logged requests,
and needs a write token (:mod:`visionops.monitoring.auth`); a missing or wrong token
is answered 401 and counted. ``/metrics`` shows the log's counters and, per model, the
monitor's figures over the server's recent traffic (``monitor.server_window_minutes``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from visionops.errors import ConfigError
from visionops.monitoring.auth import DISABLED, AuthError, WriteTokens, load_write_tokens
from visionops.monitoring.feedback import (
    FeedbackError,
    FeedbackStore,
    parse_feedback_body,
    scan_log,
)
from visionops.monitoring.figures import judge
from visionops.monitoring.layout import list_segments
from visionops.monitoring.recorder import Logged, PredictionRecorder
from visionops.monitoring.records import Prediction
from visionops.monitoring.reference import Reference, version_reference
from visionops.monitoring.settings import MonitoringSettings, load_monitoring_settings
from visionops.registry.layout import version_dir
from visionops.registry.signature_names import BYTES_INPUT, CLASS_NAMES, PROBABILITIES, UINT8_INPUT
from visionops.serving.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnauthenticatedError,
    WritingDisabledError,
)
from visionops.serving.models import LoadedVersion, ModelState

logger = logging.getLogger(__name__)

MONITOR_PREFIX = "visionops_monitor"
LOG_PREFIX = "visionops_serving_prediction_log"


def new_request_id() -> str:
    """A fresh request id: 32 hex digits."""
    return uuid.uuid4().hex


def _image_shape(loaded: LoadedVersion) -> tuple[int, int, int] | None:
    for signature in loaded.signatures.values():
        for info in signature.inputs.values():
            shape = info.shape
            if shape is not None and len(shape) == 4 and None not in shape[1:]:
                return (int(shape[1]), int(shape[2]), int(shape[3]))
    return None


class ProductionLoop:
    """The prediction log, feedback labels, write tokens and live gauges of one server.

    Args:
        registry: The registry served.
        project_dir: The project whose conf/ holds monitoring.yml and credentials.
        log_folder: Overrides ``prediction_log.folder``.
        log_predictions: False records nothing, whatever the settings say.

    Raises:
        ConfigError: The monitoring settings or the credentials are invalid.
    """

    def __init__(
        self,
        registry: Path,
        project_dir: Path,
        log_folder: Path | None = None,
        log_predictions: bool = True,
    ) -> None:
        self.registry = Path(registry)
        self.settings: MonitoringSettings = load_monitoring_settings(project_dir, log_folder)
        self.tokens: WriteTokens = load_write_tokens(project_dir)
        log = self.settings.log
        self.recorder = (
            PredictionRecorder(log, self.settings.server_window_s, self._prediction)
            if log.enabled and log_predictions
            else None
        )
        self.unauthenticated: Counter = Counter()
        self.feedback_labels: Counter = Counter()
        self._stores: dict[str, FeedbackStore] = {}
        self._on_disk: dict[str, tuple[set[str], dict[str, Logged]]] = {}
        self._references: dict[tuple[str, int], Reference] = {}
        self._shapes: dict[int, tuple[int, int, int] | None] = {}
        self._label_cache: dict[tuple[int, int], tuple[ModelState, str]] = {}

    @property
    def folder(self) -> Path:
        """The production folder."""
        return self.settings.log.folder

    def start(self) -> None:
        """Starts the log's writer thread."""
        if self.recorder is not None:
            self.recorder.start()
            logger.info(
                "Prediction log: %s (sample rate %g, images %s)",
                self.folder,
                self.settings.log.sample_rate,
                "captured" if self.settings.log.capture_images else "not captured",
            )
        if not self.tokens.enabled:
            logger.info("Writing endpoints (:feedback) are off: no write token is configured")

    def close(self) -> None:
        """Writes the open segments and stops the writer."""
        if self.recorder is not None:
            self.recorder.close()

    def record(
        self,
        request_id: str,
        state: ModelState,
        loaded: LoadedVersion,
        label: str | None,
        signature: str,
        protocol: str,
        arrays: Mapping[str, np.ndarray],
        outputs: Mapping[str, np.ndarray],
    ) -> None:
        """Hands one answered predict call to the log (sampled; never waits). Only a
        tuple is made here; the writer thread reads it (:meth:`_prediction`)."""
        if self.recorder is not None:
            self.recorder.offer(
                (
                    request_id,
                    time.time(),
                    state,
                    loaded,
                    label,
                    signature,
                    protocol,
                    arrays,
                    outputs,
                )
            )

    def _prediction(self, item: tuple) -> Prediction | None:
        """What :meth:`record` offered, as a :class:`Prediction` (in the writer thread);
        None for a signature that returns no class probabilities."""
        request_id, moment, state, loaded, label, signature, protocol, arrays, outputs = item
        if PROBABILITIES not in outputs:
            return None
        inputs = arrays.get(BYTES_INPUT)
        if inputs is None:
            inputs = arrays.get(UINT8_INPUT)
        if inputs is None:
            inputs = next(iter(arrays.values()))
        key = id(loaded)
        if key not in self._shapes:
            self._shapes[key] = _image_shape(loaded)
        return Prediction(
            request_id=request_id,
            time=moment,
            model=loaded.model_name,
            version=loaded.version,
            label=label if label is not None else self._labels(state, loaded.version),
            signature=signature,
            protocol=protocol,
            inputs=inputs,
            probabilities=outputs[PROBABILITIES],
            class_names=outputs.get(CLASS_NAMES),
            image_shape=self._shapes[key],
        )

    def _labels(self, state: ModelState, version: int) -> str:
        """The labels pointing at ``version`` in ``state``, joined by commas (cached: a
        published state never changes)."""
        cached = self._label_cache.get((id(state), version))
        if cached is not None and cached[0] is state:  # an id is reused once its object dies
            return cached[1]
        if len(self._label_cache) > 64:  # states are replaced as labels move
            self._label_cache.clear()
        labels = ",".join(sorted(name for name, v in state.labels.items() if v == version))
        self._label_cache[id(state), version] = (state, labels)
        return labels

    def authorize(self, authorization: str | None, endpoint: str, protocol: str) -> str:
        """The sender of a write, from its ``Authorization`` header.

        Raises:
            UnauthenticatedError: The token is missing or wrong (counted).
            WritingDisabledError: No token is configured (counted).
        """
        try:
            return self.tokens.sender(authorization)
        except AuthError as error:
            self.unauthenticated[endpoint, protocol, error.reason] += 1
            if error.reason == DISABLED:
                raise WritingDisabledError(error.message) from None
            raise UnauthenticatedError(error.message) from None

    def _reference(self, loaded: LoadedVersion) -> Reference:
        key = (loaded.model_name, loaded.version)
        if key not in self._references:
            self._references[key] = version_reference(
                loaded.path, loaded.model_name, loaded.version
            )
        return self._references[key]

    def _lookup(self, model: str, request_id: str) -> Logged | None:
        if self.recorder is not None:
            found = self.recorder.lookup(request_id, model)
            if found is None:
                self.recorder.wait_written()  # it may still be on its way to the writer
                found = self.recorder.lookup(request_id, model)
            if found is not None:
                return found
        segments = list_segments(self.folder, model)
        scanned, index = self._on_disk.get(model, (set(), {}))
        names = {path.name for path in segments}
        if not scanned <= names:  # purged since: read them all again
            scanned, index = set(), {}
        new = [path for path in segments if path.name not in scanned]
        if new:
            index = {**index, **scan_log(self.folder, model, new)}
            scanned = scanned | {path.name for path in new}
        self._on_disk[model] = (scanned, index)
        return index.get(request_id)

    def _submit(self, state: ModelState, items: list[dict[str, Any]], sender: str) -> Any:
        store = self._stores.setdefault(state.name, FeedbackStore(self.folder, state.name))

        def class_names(version: int) -> tuple[str, ...] | None:
            loaded = state.loaded.get(version)
            if loaded is not None:
                return self._reference(loaded).class_names
            folder = version_dir(self.registry, state.name, version)
            return version_reference(folder, state.name, version).class_names

        results = store.submit(
            items, sender, "api", lambda rid: self._lookup(state.name, rid), class_names
        )
        return store, results

    async def feedback(self, state: ModelState, body: bytes, sender: str) -> dict[str, Any]:
        """Records the labels of a ``:feedback`` body for model ``state.name``, sent by
        ``sender`` (see :meth:`authorize`).

        Raises:
            ServingError: Refused: 400 (body, classes), 404 (request ids), 409
                (contradicting labels); nothing was recorded.
        """
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BadRequestError(f"the feedback body is not valid JSON: {error}") from error
        try:
            items = parse_feedback_body(document)
            store, results = await asyncio.to_thread(self._submit, state, items, sender)
        except FeedbackError as error:
            kind = {404: NotFoundError, 409: ConflictError}.get(error.status_code, BadRequestError)
            raise kind(error.message) from None
        recorded = [result for result in results if result["status"] == "recorded"]
        for item, result in zip(items, results, strict=True):
            self.feedback_labels[state.name, result["status"]] += 1
            if result["status"] == "recorded" and self.recorder is not None:
                entry = store.labelled()[item["request_id"]]
                for actual, predicted in zip(entry["labels"], entry["predicted"], strict=True):
                    self.recorder.add_label(state.name, actual, predicted)
        logger.info(
            "Feedback for %s from %s: %d label set(s) recorded, %d duplicate(s)",
            state.name,
            sender,
            len(recorded),
            len(results) - len(recorded),
        )
        return {"sender": sender, "results": results}

    def render_metrics(self, models: Mapping[str, ModelState]) -> Iterable[str]:
        """The log's counters and the monitor's gauges, in Prometheus text format."""
        name = "visionops_serving_unauthenticated_total"
        yield (
            f"# HELP {name} Writes refused for a missing or wrong token, or because no token "
            "is configured (reason disabled)."
        )
        yield f"# TYPE {name} counter"
        for (endpoint, protocol, reason), count in sorted(self.unauthenticated.items()):
            yield (
                f'{name}{{endpoint="{endpoint}",protocol="{protocol}",reason="{reason}"}} {count}'
            )
        name = "visionops_serving_feedback_total"
        yield f"# HELP {name} Feedback label sets, by model and status (recorded, duplicate)."
        yield f"# TYPE {name} counter"
        for (model, status), count in sorted(self.feedback_labels.items()):
            yield f'{name}{{model="{model}",status="{status}"}} {count}'
        if self.recorder is None:
            return
        recorder = self.recorder
        yield f"# HELP {LOG_PREFIX}_rows_total Images written to closed segments."
        yield f"# TYPE {LOG_PREFIX}_rows_total counter"
        yield f"{LOG_PREFIX}_rows_total {recorder.rows_written}"
        yield f"# HELP {LOG_PREFIX}_segments_total Segments closed."
        yield f"# TYPE {LOG_PREFIX}_segments_total counter"
        yield f"{LOG_PREFIX}_segments_total {recorder.segments_written}"
        yield (
            f"# HELP {LOG_PREFIX}_dropped_total Requests not recorded: the queue was full "
            "(queue_full), the log reached max_log_mb (size_cap), or writing failed "
            "(write_error)."
        )
        yield f"# TYPE {LOG_PREFIX}_dropped_total counter"
        for reason in ("queue_full", "size_cap", "write_error"):
            yield f'{LOG_PREFIX}_dropped_total{{reason="{reason}"}} {recorder.dropped[reason]}'
        yield f"# HELP {LOG_PREFIX}_sampled_out_total Requests left out by sample_rate."
        yield f"# TYPE {LOG_PREFIX}_sampled_out_total counter"
        yield f"{LOG_PREFIX}_sampled_out_total {recorder.sampled_out}"
        yield f"# HELP {LOG_PREFIX}_writer_cpu_seconds_total CPU time of the writer thread."
        yield f"# TYPE {LOG_PREFIX}_writer_cpu_seconds_total counter"
        yield f"{LOG_PREFIX}_writer_cpu_seconds_total {recorder.writer_cpu_seconds:.6f}"
        yield f"# HELP {LOG_PREFIX}_stored_bytes Bytes of the closed segments."
        yield f"# TYPE {LOG_PREFIX}_stored_bytes gauge"
        yield f"{LOG_PREFIX}_stored_bytes {recorder.stored_bytes}"
        yield from self._gauges(models)

    def _gauges(self, models: Mapping[str, ModelState]) -> Iterable[str]:
        lines: dict[str, list[str]] = {}
        helps = {
            "images": "Images predicted in the server's monitoring window.",
            "input_drift_distance": "Jensen-Shannon distance of each channel's intensity "
            "histogram from the production version's training data.",
            "image_size_off_share": "Share of images not of the training images' size.",
            "class_distribution_distance": "Jensen-Shannon distance of the predicted class "
            "shares from the test split's.",
            "mean_confidence": "Mean top-class probability.",
            "labels": "Feedback labels received in the window.",
            "accuracy": "Accuracy on the feedback labels received in the window.",
            "alert": "1 when the check is past its threshold (conf/base/monitoring.yml).",
        }
        for model, state in sorted(models.items()):
            version = state.default_version()
            loaded = state.loaded.get(version) if version is not None else None
            if loaded is None:
                continue
            try:
                reference = self._reference(loaded)
            except ConfigError as error:
                logger.warning("No monitoring reference for %s: %s", model, error)
                continue
            assert self.recorder is not None
            figures = judge(self.recorder.window(model), reference, self.settings.thresholds)
            tag = f'model="{model}",version="{loaded.version}"'
            lines.setdefault("images", []).append(f"{{{tag}}} {figures['images']}")
            for check in figures["input_drift"]["checks"]:
                if "distance" in check:
                    lines.setdefault("input_drift_distance", []).append(
                        f'{{{tag},check="{check["check"]}"}} {check["distance"]}'
                    )
                else:
                    lines.setdefault("image_size_off_share", []).append(
                        f"{{{tag}}} {check['share']}"
                    )
            classes = figures["class_distribution"]
            if "distance" in classes:
                lines.setdefault("class_distribution_distance", []).append(
                    f"{{{tag}}} {classes['distance']}"
                )
            if figures["confidence"]["mean"] is not None:
                lines.setdefault("mean_confidence", []).append(
                    f"{{{tag}}} {figures['confidence']['mean']}"
                )
            accuracy = figures["accuracy"]
            lines.setdefault("labels", []).append(f"{{{tag}}} {accuracy['labels']}")
            if accuracy["accuracy"] is not None:
                lines.setdefault("accuracy", []).append(f"{{{tag}}} {accuracy['accuracy']}")
            alerted = {alert["check"] for alert in figures["alerts"]}
            checks = [f"input_drift.{c['check']}" for c in figures["input_drift"]["checks"]]
            checks += ["class_distribution", "confidence", "accuracy"]
            for check in checks:
                lines.setdefault("alert", []).append(
                    f'{{{tag},check="{check}"}} {int(check in alerted)}'
                )
        for key, series in lines.items():
            yield f"# HELP {MONITOR_PREFIX}_{key} {helps[key]}"
            yield f"# TYPE {MONITOR_PREFIX}_{key} gauge"
            for line in series:
                yield f"{MONITOR_PREFIX}_{key}{line}"
