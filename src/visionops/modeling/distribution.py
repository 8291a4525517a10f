"""What training runs on: the distribution strategy, numeric precision, determinism."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from visionops.errors import ConfigError

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


@dataclass(frozen=True)
class Placement:
    """The strategy training runs under, and what it was chosen from.

    Attributes:
        strategy: The tf.distribute strategy.
        name: ``default``, ``mirrored`` or ``multi_worker_mirrored``.
        devices: The devices used, e.g. ``["/gpu:0", "/gpu:1"]`` or ``["/cpu:0"]``.
        workers: Number of worker processes (``TF_CONFIG``), 1 without it.
        is_chief: Whether this process writes checkpoints, logs and outputs.
    """

    strategy: tf.distribute.Strategy
    name: str
    devices: list[str]
    workers: int
    is_chief: bool


def choose_strategy() -> Placement:
    """Picks the strategy from what is there.

    ``TF_CONFIG`` set: MultiWorkerMirroredStrategy (one process per worker). Several
    GPUs: MirroredStrategy. Otherwise (one GPU or none): the default strategy.
    Must run before TensorFlow starts its runtime (first tensor or device query of
    the process), as MultiWorkerMirroredStrategy requires.
    """
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    if config.get("cluster"):
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        task = config.get("task", {})
        workers = len(config["cluster"].get("worker", [])) + len(config["cluster"].get("chief", []))
        is_chief = task.get("type") == "chief" or (
            task.get("type") == "worker"
            and int(task.get("index", 0)) == 0
            and "chief" not in config["cluster"]
        )
        return Placement(strategy, "multi_worker_mirrored", _devices(), workers, is_chief)
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy()
        return Placement(strategy, "mirrored", [gpu.name for gpu in gpus], 1, True)
    return Placement(tf.distribute.get_strategy(), "default", _devices(), 1, True)


def _devices() -> list[str]:
    gpus = tf.config.list_logical_devices("GPU")
    return [device.name for device in gpus] or [
        device.name for device in tf.config.list_logical_devices("CPU")
    ]


def has_gpu() -> bool:
    """Whether TensorFlow sees a GPU."""
    return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(precision: str) -> str:
    """The Keras dtype policy for ``training.precision``: ``auto`` is mixed_float16 on a
    GPU and float32 on CPU.

    Raises:
        ConfigError: ``precision`` is not one of :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ConfigError(
            f"training.precision must be one of {', '.join(PRECISIONS)}; got {precision!r}"
        )
    if precision == "auto":
        return "mixed_float16" if has_gpu() else "float32"
    return precision


def resolve_deterministic(deterministic: Any) -> bool:
    """``training.deterministic``: true, false, or ``auto`` (true on CPU, false on GPU,
    where deterministic kernels cost speed)."""
    if deterministic == "auto":
        return not has_gpu()
    if isinstance(deterministic, bool):
        return deterministic
    raise ConfigError(f"training.deterministic must be true, false or auto; got {deterministic!r}")


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras; with ``deterministic``, makes
    TensorFlow's ops deterministic, so two runs give bit-identical weights."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
