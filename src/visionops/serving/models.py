"""Loaded model versions, their TF Serving states, and the catalog the server answers from.

The registry watcher publishes a new, immutable :class:`ModelState` whenever a model
changes; request handlers read whichever state is current. A request that already
holds a :class:`LoadedVersion` finishes on it even if the version is unloaded meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from visionops.registry.layout import MODELS_CONFIG, PRODUCTION
from visionops.registry.policy import SPECIFIC, VersionPolicy
from visionops.registry.rollout import Rollout
from visionops.registry.signature_names import DEFAULT_SIGNATURE
from visionops.serving.errors import BadRequestError, ModelInputError, NotFoundError
from visionops.serving.signatures import Signature, TensorInfo, read_signatures

logger = logging.getLogger(__name__)

LOADING, AVAILABLE, END = "LOADING", "AVAILABLE", "END"


@dataclass(frozen=True)
class VersionStatus:
    """The state of one version, as TF Serving reports it: LOADING, AVAILABLE or END.

    A version that failed to load is END with an error message; one that was unloaded
    is END without one.
    """

    version: int
    state: str
    error_message: str = ""

    def to_json(self) -> dict[str, Any]:
        """One entry of ``model_version_status``."""
        return {
            "version": str(self.version),
            "state": self.state,
            "status": {
                "error_code": "UNKNOWN" if self.error_message else "OK",
                "error_message": self.error_message,
            },
        }


def _tf_error_summary(error: tf.errors.OpError) -> str:
    # TF prefixes the cause with "Graph execution error" and node traces; keep the cause.
    for line in str(error.message).splitlines():
        text = line.strip()
        noise = ("Graph execution error", "Detected at node", "<stack traces", "[[")
        if text and not text.startswith(noise):
            return text
    return str(error.message).strip()


class LoadedVersion:
    """One version of a model, loaded from its SavedModel folder and ready to predict."""

    def __init__(self, model_name: str, version: int, path: Path) -> None:
        self.model_name = model_name
        self.version = version
        self.path = path
        self._saved_model = tf.saved_model.load(str(path))
        self.signatures: dict[str, Signature] = read_signatures(self._saved_model)
        self._warm_up()

    def _warm_up(self) -> None:
        # First calls pay one-off setup costs; pay them before the version takes traffic.
        for signature in self.signatures.values():
            inputs = {}
            for key, info in signature.inputs.items():
                if info.shape is None or None in info.shape[1:]:
                    break
                if info.is_binary and info.shape == (None,):
                    inputs[key] = np.array(
                        [tf.io.encode_png(tf.zeros([1, 1, 1], tf.uint8)).numpy()]
                    )
                elif info.dtype != tf.string:
                    inputs[key] = np.zeros([1, *info.shape[1:]], info.dtype.as_numpy_dtype)
            if len(inputs) == len(signature.inputs):
                try:
                    signature(inputs)
                except tf.errors.InvalidArgumentError:
                    # A string signature may not take PNGs at all; it is not broken for that.
                    if all(info.dtype != tf.string for info in signature.inputs.values()):
                        raise

    def signature(self, name: str) -> Signature:
        """The signature called ``name`` (``serving_default`` when empty).

        Raises:
            BadRequestError: The version has no such signature.
        """
        name = name or DEFAULT_SIGNATURE
        if name not in self.signatures:
            raise BadRequestError(
                f"model {self.model_name!r} version {self.version} has no signature {name!r}; "
                f"its signatures are {sorted(self.signatures)}"
            )
        return self.signatures[name]

    def describe_signatures(self) -> str:
        """Each signature and the inputs it takes, for error messages, e.g. ``serving_uint8
        takes 'images' uint8 [N, 8, 8, 1]``."""

        def describe(key: str, info: TensorInfo) -> str:
            binary = ' as {"b64": ...}' if info.is_binary else ""
            return f"{key!r} {info.dtype.name} {info.describe_shape()}{binary}"

        return "; ".join(
            f"{name} takes "
            + ", ".join(describe(key, info) for key, info in sorted(sig.inputs.items()))
            for name, sig in sorted(self.signatures.items())
        )

    def predict(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Runs one batch through a signature; blocks, so call it off the event loop.

        Raises:
            ModelInputError: The model rejected an input, e.g. bytes that are no image.
        """
        signature = self.signature(signature_name)
        try:
            return signature(inputs)
        except tf.errors.InvalidArgumentError as error:
            raise ModelInputError(
                f"model {self.model_name!r} version {self.version} signature "
                f"{signature.name!r} rejected the input: {_tf_error_summary(error)}"
            ) from error

    def metadata(self) -> dict[str, Any]:
        """The ``metadata`` part of TF Serving's GetModelMetadata response."""
        definitions = {name: sig.to_json() for name, sig in sorted(self.signatures.items())}
        return {"signature_def": {"signature_def": definitions}}


@dataclass(frozen=True)
class ModelState:
    """What the server knows about one model at one moment; never changed once published.

    Attributes:
        name: The model's name.
        statuses: The state of every version the server has seen, by version.
        loaded: The versions that are AVAILABLE, by version.
        labels: The labels being served, each pointing at a loaded version. A label
            moves only once the version it names has loaded.
        policy: The model's version policy in ``models.config``; None when the file
            does not list the model.
        policy_versions: The versions on disk that the policy serves.
        rollout: The model's canary or shadow rollout in progress, if any
            (:mod:`visionops.serving.rollout` routes requests through it).
    """

    name: str
    statuses: Mapping[int, VersionStatus] = field(default_factory=dict)
    loaded: Mapping[int, LoadedVersion] = field(default_factory=dict)
    labels: Mapping[str, int] = field(default_factory=dict)
    policy: VersionPolicy | None = None
    policy_versions: frozenset[int] = frozenset()
    rollout: Rollout | None = None

    def default_version(self) -> int | None:
        """The version that answers when a request names none.

        The ``production`` label if it is set, else the highest loaded version.
        """
        if PRODUCTION in self.labels:
            return self.labels[PRODUCTION]
        return max(self.loaded, default=None)

    def _outside_policy(self, version: int) -> str:
        if self.policy is None:
            return f"{MODELS_CONFIG} does not list model {self.name!r}"
        served = sorted(self.policy_versions) or "none"
        if self.policy.kind == SPECIFIC and version in self.policy.versions:
            return (
                f"the version policy in {MODELS_CONFIG} names it, but it has no version "
                f"folder; the policy serves versions {served}"
            )
        return (
            f"it is outside the version policy in {MODELS_CONFIG} "
            f"({self.policy.describe()}), which serves versions {served}"
        )

    def _describe(self, version: int) -> str:
        status = self.statuses.get(version)
        if status is not None and status.error_message:
            return f"it failed to load: {status.error_message}"
        if status is not None and (status.state != END or version in self.policy_versions):
            return f"it is {status.state}"
        if status is not None:
            return f"it was unloaded: {self._outside_policy(version)}"
        return self._outside_policy(version)

    def status(self, version: int) -> VersionStatus:
        """The state of one version the server has loaded, is loading or has unloaded.

        Raises:
            NotFoundError: The server has never had that version; says why.
        """
        if version not in self.statuses:
            raise NotFoundError(
                f"model {self.name!r} has no version {version} loaded or loading: "
                f"{self._describe(version)}"
            )
        return self.statuses[version]

    def resolve(self, version: int | None = None, label: str | None = None) -> LoadedVersion:
        """The loaded version a request names: by number, by label, or the default.

        Raises:
            NotFoundError: The version is not loaded, or the label is not served.
        """
        if label is not None:
            if label not in self.labels:
                served = ", ".join(f"{k} -> {v}" for k, v in sorted(self.labels.items()))
                raise NotFoundError(
                    f"model {self.name!r} has no label {label!r} with a loaded version; "
                    f"its labels: {served or 'none'}"
                )
            version = self.labels[label]
        if version is None:
            version = self.default_version()
            if version is None:
                raise NotFoundError(f"model {self.name!r} has no loaded version yet")
        if version not in self.loaded:
            loaded = sorted(self.loaded) or "none"
            raise NotFoundError(
                f"model {self.name!r} version {version} is not available: "
                f"{self._describe(version)}; loaded versions: {loaded}"
            )
        return self.loaded[version]


class Catalog:
    """The current :class:`ModelState` of every model; safe to share between threads."""

    def __init__(self) -> None:
        self._models: dict[str, ModelState] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> ModelState:
        """The state of model ``name``.

        Raises:
            NotFoundError: The server has no model of that name.
        """
        state = self._models.get(name)
        if state is None:
            raise NotFoundError(
                f"model {name!r} is not served; served models: {sorted(self._models)}"
            )
        return state

    def snapshot(self) -> dict[str, ModelState]:
        """Every model's current state."""
        with self._lock:
            return dict(self._models)

    def publish(self, state: ModelState) -> None:
        """Makes ``state`` the current state of its model."""
        with self._lock:
            self._models = {**self._models, state.name: state}

    def remove(self, name: str) -> None:
        """Forgets model ``name``."""
        with self._lock:
            self._models = {k: v for k, v in self._models.items() if k != name}
