"""Optimizers and learning-rate schedules from the training parameters (Keras 3 only)."""

from __future__ import annotations

from typing import Any

import keras

from visionops.errors import ConfigError

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine", "one_cycle")


def build_schedule(params: dict[str, Any], steps_per_epoch: int) -> Any:
    """The learning rate: constant, cosine decay to zero, or one-cycle (a linear
    warm-up over ``warmup_fraction`` of the steps to the peak rate, then cosine down).

    Raises:
        ConfigError: Unknown schedule or a rate that is not positive.
    """
    schedule = params.get("schedule", "constant")
    rate = float(params["learning_rate"])
    if schedule not in SCHEDULES:
        raise ConfigError(
            f"training.schedule must be one of {', '.join(SCHEDULES)}; got {schedule!r}"
        )
    if rate <= 0:
        raise ConfigError(f"training.learning_rate must be positive; got {rate}")
    total = max(1, steps_per_epoch * int(params["epochs"]))
    if schedule == "constant":
        return rate
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(rate, decay_steps=total)
    warmup = max(1, int(total * float(params.get("warmup_fraction", 0.2))))
    return keras.optimizers.schedules.CosineDecay(
        rate / 25,
        decay_steps=max(1, total - warmup),
        warmup_target=rate,
        warmup_steps=warmup,
    )


def build_optimizer(params: dict[str, Any], steps_per_epoch: int, precision: str) -> Any:
    """Adam or SGD with Nesterov momentum, with decoupled weight decay, wrapped for
    loss scaling under ``mixed_float16``.

    Raises:
        ConfigError: Unknown optimizer or a negative weight decay.
    """
    name = params.get("optimizer", "adam")
    decay = float(params.get("weight_decay", 0.0))
    if name not in OPTIMIZERS:
        raise ConfigError(
            f"training.optimizer must be one of {', '.join(OPTIMIZERS)}; got {name!r}"
        )
    if decay < 0:
        raise ConfigError(f"training.weight_decay must be >= 0; got {decay}")
    rate = build_schedule(params, steps_per_epoch)
    weight_decay = decay or None
    if name == "adam":
        optimizer = (
            keras.optimizers.AdamW(learning_rate=rate, weight_decay=decay)
            if decay
            else (keras.optimizers.Adam(learning_rate=rate))
        )
    else:
        optimizer = keras.optimizers.SGD(
            learning_rate=rate,
            momentum=float(params.get("momentum", 0.9)),
            nesterov=True,
            weight_decay=weight_decay,
        )
    if precision == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def learning_rate_at(optimizer: Any) -> float:
    """The learning rate the optimizer uses at its current step."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = inner.learning_rate
    if callable(rate):
        rate = rate(inner.iterations)
    return float(keras.ops.convert_to_numpy(rate))
