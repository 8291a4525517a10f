"""The training loop: one custom step under any tf.distribute strategy, resumable.

One loop serves every placement. Keras 3's ``model.fit`` fails under
MultiWorkerMirroredStrategy (keras-team/keras#20585), so the step is a
``tf.function`` run with ``strategy.run`` over distributed batches; on one device it
is the default strategy. After every epoch the loop checkpoints the model, the
optimizer and early stopping's state; a rerun continues from the last finished
epoch, and because each epoch's data order and augmentation derive from
``(seed, epoch)``, it ends with the weights an uninterrupted run ends with.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from visionops.dataplane.layout import INDEX_FILE
from visionops.dataplane.reader import ShardedDataset
from visionops.errors import ConfigError
from visionops.modeling.architectures import build_model
from visionops.modeling.checkpoint import CheckpointStore, EpochLog, TrainingState
from visionops.modeling.distribution import (
    Placement,
    choose_strategy,
    resolve_deterministic,
    resolve_precision,
    seed_everything,
)
from visionops.modeling.inputs import (
    DEFAULT_CACHE_BUDGET_MB,
    check_augmentation,
    readable_count,
    split_inputs,
)
from visionops.modeling.optimization import build_optimizer, learning_rate_at

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    """A finished training run.

    Attributes:
        model: The trained model in float32, whatever precision trained it.
        history: One record per epoch: loss, accuracy, val_loss, val_accuracy,
            learning_rate.
        metadata: Weights sha256, epochs run, best epoch, devices, strategy,
            precision and library versions: the same for the same inputs, so the
            file that holds it is byte-identical across reruns.
        performance: What this run measured of the machine: wall time and training
            images per second.
    """

    model: keras.Model
    history: list[dict[str, float]]
    metadata: dict[str, Any]
    performance: dict[str, Any]


def weights_sha256(model: keras.Model) -> str:
    """sha256 over every weight's shape, dtype and bytes, in order."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        array = np.ascontiguousarray(weight)
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _check(params: dict[str, Any], train: ShardedDataset, val: ShardedDataset) -> None:
    for key in ("epochs", "batch_size"):
        if not isinstance(params[key], int) or params[key] < 1:
            raise ConfigError(f"training.{key} must be a whole number >= 1; got {params[key]!r}")
    if not 0 <= float(params.get("label_smoothing", 0.0)) < 1:
        raise ConfigError("training.label_smoothing must be in [0, 1)")
    if train.class_names != val.class_names:
        raise ConfigError(
            f"the train split ({train.folder}) and the val split ({val.folder}) disagree on "
            "the class names; rebuild the splits (dvc repro)"
        )
    if train.image_shape != val.image_shape:
        raise ConfigError(
            f"the train split's images are {train.image_shape} but the val split's "
            f"{val.image_shape}; rebuild the splits (dvc repro)"
        )
    images = readable_count(train)
    if images < params["batch_size"]:
        raise ConfigError(
            f"the train split has {images} images, fewer than training.batch_size "
            f"{params['batch_size']}"
        )
    check_augmentation(params.get("augmentation") or {})


def fingerprint(params: dict[str, Any], train: ShardedDataset, val: ShardedDataset) -> str:
    """What a checkpoint belongs to: the parameters and the data (each split's
    ``dataset.json`` and the bytes of its index, which holds every image's content
    hash). A checkpoint with another fingerprint is from another run and is not resumed."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for split in (train, val):
        digest.update(split.meta.to_json().encode())
        digest.update(hashlib.sha256((split.folder / INDEX_FILE).read_bytes()).digest())
    return digest.hexdigest()


class _Loop:
    """The compiled steps of one run; see :func:`train_model`.

    Several steps run inside one ``tf.function`` call (``steps_per_execution``), and
    loss and accuracy sums accumulate in variables, so Python is not in the way of
    each batch.
    """

    def __init__(
        self, placement: Placement, model: keras.Model, optimizer: Any, params: dict[str, Any]
    ) -> None:
        self.strategy = placement.strategy
        self.model = model
        self.optimizer = optimizer
        self.classes = int(model.output_shape[-1])
        self.smoothing = float(params.get("label_smoothing", 0.0))
        self.global_batch = int(params["batch_size"])
        self.scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        self.sums = tf.Variable(tf.zeros(3), trainable=False)
        # No AutoGraph: the loops are written as tf.while_loop and the steps have no
        # Python control flow on tensors, so there is nothing to convert. Converting
        # them, and every Keras call they make, took 3 s of each run's first epoch.
        self.train_steps = tf.function(self._train_steps, autograph=False)
        self.eval_steps = tf.function(self._eval_steps, autograph=False)

    def _outcome(self, images: tf.Tensor, labels: tf.Tensor, training: bool) -> tuple:
        probabilities = self.model(images, training=training)
        targets = keras.ops.one_hot(labels, self.classes)
        per_example = keras.losses.categorical_crossentropy(
            targets, probabilities, label_smoothing=self.smoothing
        )
        correct = tf.cast(tf.equal(tf.argmax(probabilities, axis=-1), labels), tf.float32)
        return per_example, correct

    def _train_step(self, images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            per_example, correct = self._outcome(images, labels, training=True)
            # Summed over the replica, divided by the global batch: the replicas'
            # gradients add up to the batch mean.
            loss = tf.reduce_sum(per_example) / self.global_batch
            if self.model.losses:
                loss += tf.add_n(self.model.losses) / self.strategy.num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss) if self.scaled else loss
        gradients = tape.gradient(scaled, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables, strict=True))
        return _sums(per_example, correct)

    def _eval_step(self, images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        return _sums(*self._outcome(images, labels, training=False))

    def _train_steps(self, iterator: Any, steps: tf.Tensor) -> None:
        self._repeat(self._train_step, iterator, steps)

    def _eval_steps(self, iterator: Any, steps: tf.Tensor) -> None:
        self._repeat(self._eval_step, iterator, steps)

    def _repeat(self, step: Callable, iterator: Any, steps: tf.Tensor) -> None:
        """Runs ``step`` on the next ``steps`` batches of ``iterator``, adding up its sums."""

        def body(done: tf.Tensor) -> tf.Tensor:
            per_replica = self.strategy.run(step, args=next(iterator))
            self.sums.assign_add(
                self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            )
            return done + 1

        tf.while_loop(lambda done: done < steps, body, [tf.constant(0, steps.dtype)])

    def fit_epoch(self, iterator: Any, steps: int, chunk: int, progress: Any) -> dict:
        """Runs ``steps`` training steps from ``iterator``; mean loss and accuracy."""
        self.sums.assign(tf.zeros(3))
        done = 0
        while done < steps:
            count = min(chunk, steps - done)
            self.train_steps(iterator, tf.constant(count))
            done += count
            if progress is not None:
                progress.update(done)
        return self._means()

    def evaluate(self, data: tf.data.Dataset, steps: int) -> dict:
        """Mean loss and accuracy over ``data`` (``steps`` batches)."""
        self.sums.assign(tf.zeros(3))
        self.eval_steps(
            iter(self.strategy.experimental_distribute_dataset(data)), tf.constant(steps)
        )
        return self._means()

    def _means(self) -> dict:
        loss_sum, correct, count = (float(value) for value in self.sums.numpy())
        return {
            "loss": loss_sum / max(count, 1),
            "accuracy": correct / max(count, 1),
            "images": count,
        }


def _sums(per_example: tf.Tensor, correct: tf.Tensor) -> tf.Tensor:
    return tf.stack(
        [tf.reduce_sum(per_example), tf.reduce_sum(correct), tf.cast(tf.size(correct), tf.float32)]
    )


def _restore(variables: list[Any], values: list[np.ndarray], what: str) -> None:
    if len(variables) != len(values):
        raise ConfigError(
            f"the training checkpoint holds {len(values)} {what} variables but the run has "
            f"{len(variables)}; delete the checkpoint to start over"
        )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def _snapshot(variables: list[Any]) -> list[np.ndarray]:
    return [np.array(variable) for variable in variables]


@dataclass
class _Progress:
    """Where a run stands: what a checkpoint saves besides the variables."""

    history: list[dict[str, float]]
    best: dict[str, Any]
    best_variables: list[np.ndarray]
    first_epoch: int = 0

    def record(self, record: dict[str, float], model: keras.Model) -> None:
        self.history.append(record)
        if record["val_loss"] < self.best["val_loss"]:
            self.best = {"val_loss": record["val_loss"], "epoch": record["epoch"], "wait": 0}
            self.best_variables = _snapshot(model.variables)
        else:
            self.best["wait"] += 1


def _resume(
    checkpoints: CheckpointStore | None, run_id: str, model: keras.Model, optimizer: Any
) -> _Progress:
    """Restores the last checkpoint of this run, if there is one."""
    fresh = _Progress(
        [], {"val_loss": float("inf"), "epoch": 0, "wait": 0}, _snapshot(model.variables)
    )
    state = checkpoints.load() if checkpoints else None
    if state is None:
        return fresh
    if state.progress.get("fingerprint") != run_id:
        logger.warning(
            "Training checkpoint %s is from another run (other data or parameters); starting over",
            checkpoints.path,
        )
        return fresh
    _restore(model.variables, state.model_variables, "model")
    _restore(optimizer.variables, state.optimizer_variables, "optimizer")
    logger.info("Resuming training after epoch %d, from %s", state.epoch, checkpoints.path)
    return _Progress(state.history, state.progress["best"], state.best_variables, state.epoch)


def _build(
    placement: Placement, params: dict[str, Any], architecture: tuple, options: dict, precision: str
) -> tuple[keras.Model, Any, int]:
    steps_per_epoch = architecture[3] // int(params["batch_size"])
    keras.mixed_precision.set_dtype_policy(precision)
    try:
        with placement.strategy.scope():
            model = build_model(*architecture[:3], **options)
            optimizer = build_optimizer(params, steps_per_epoch, precision)
            optimizer.build(model.trainable_variables)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    return model, optimizer, steps_per_epoch


def train_model(
    train: ShardedDataset,
    val: ShardedDataset,
    params: dict[str, Any],
    checkpoints: CheckpointStore | None = None,
    epoch_log: EpochLog | None = None,
    placement: Placement | None = None,
) -> TrainingResult:
    """Trains the model chosen by ``params`` on ``train``, validating on ``val``.

    Args:
        train: The training split. Decoded into memory when it fits
            ``params["cache_budget_mb"]``, else streamed from its shards every epoch.
        val: The validation split (per-epoch metrics, early stopping): held decoded
            when it fits what the train split left of the budget, else streamed.
        params: The ``training`` parameters (see params.yaml).
        checkpoints: Where to checkpoint after every epoch and resume from; None
            trains without checkpoints.
        epoch_log: Receives each epoch's record as it finishes.
        placement: The strategy to use; chosen from the machine when None.

    Returns:
        The float32 model, its history and the run's metadata.

    Raises:
        ConfigError: A parameter is invalid, the splits disagree, or the checkpoint
            cannot be resumed.
        SourceError: A split's shards cannot be decoded.
    """
    _check(params, train, val)
    placement = placement or choose_strategy()
    started = time.perf_counter()
    deterministic = resolve_deterministic(params.get("deterministic", "auto"))
    precision = resolve_precision(params.get("precision", "auto"))
    seed, epochs = int(params["seed"]), int(params["epochs"])
    seed_everything(seed, deterministic)
    budget = float(params.get("cache_budget_mb", DEFAULT_CACHE_BUDGET_MB))
    batch_size = int(params["batch_size"])
    train_input, val_input = split_inputs(train, val, batch_size, budget)
    architecture = (
        params["architecture"],
        train.image_shape,
        len(train.class_names),
        train_input.size,
    )
    options = {"dropout_rate": float(params["dropout_rate"]), "width": int(params.get("width", 32))}
    model, optimizer, steps_per_epoch = _build(placement, params, architecture, options, precision)
    loop = _Loop(placement, model, optimizer, params)
    run_id = fingerprint(params, train, val)
    progress = _resume(checkpoints, run_id, model, optimizer)

    val_data, val_steps = val_input.evaluation_batches(), -(-val_input.size // batch_size)
    batches = train_input.training_batches(
        seed, progress.first_epoch, epochs, params.get("augmentation") or {}
    )
    iterator = iter(placement.strategy.experimental_distribute_dataset(batches))
    patience = int(params.get("early_stopping_patience", 0))
    chunk = max(1, int(params.get("steps_per_execution", 8)))
    verbose = bool(params.get("verbose", True)) and placement.is_chief
    train_seconds, train_images = 0.0, 0.0
    for epoch in range(progress.first_epoch, epochs):
        if patience and progress.best["wait"] >= patience:
            logger.info("Early stopping: val_loss has not improved for %d epochs", patience)
            break
        bar = keras.utils.Progbar(steps_per_epoch, verbose=1) if verbose else None
        tick = time.perf_counter()
        fitted = loop.fit_epoch(iterator, steps_per_epoch, chunk, bar)
        train_seconds += time.perf_counter() - tick
        train_images += fitted["images"]
        checked = loop.evaluate(val_data, val_steps)
        record = {
            "epoch": epoch + 1,
            "loss": fitted["loss"],
            "accuracy": fitted["accuracy"],
            "val_loss": checked["loss"],
            "val_accuracy": checked["accuracy"],
            "learning_rate": learning_rate_at(optimizer),
        }
        progress.record(record, model)
        logger.info(
            "epoch %d/%d: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f",
            epoch + 1,
            epochs,
            record["loss"],
            record["accuracy"],
            record["val_loss"],
            record["val_accuracy"],
        )
        if placement.is_chief:
            _after_epoch(record, progress, model, optimizer, run_id, checkpoints, epoch_log)
    if patience and params.get("restore_best_weights", True) and progress.best["epoch"]:
        _restore(model.variables, progress.best_variables, "model")
    final = _float32_copy(model, architecture[:3], options)
    if placement.is_chief:
        if epoch_log is not None:
            epoch_log.finish()
        if checkpoints is not None:
            checkpoints.clear()
    metadata = {
        "weights_sha256": weights_sha256(final),
        "epochs_run": len(progress.history),
        "epochs_requested": epochs,
        "resumed_after_epoch": progress.first_epoch,
        "best_epoch": progress.best["epoch"],
        "stopped_early": len(progress.history) < epochs,
        "strategy": placement.name,
        "workers": placement.workers,
        "replicas": placement.strategy.num_replicas_in_sync,
        "devices": placement.devices,
        "precision": precision,
        "deterministic": deterministic,
        "seed": seed,
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
        },
    }
    performance = {
        "wall_seconds": round(time.perf_counter() - started, 3),
        "train_images_per_second": round(train_images / train_seconds, 1)
        if train_seconds
        else None,
    }
    return TrainingResult(final, progress.history, metadata, performance)


def _after_epoch(
    record: dict[str, float],
    progress: _Progress,
    model: keras.Model,
    optimizer: Any,
    run_id: str,
    checkpoints: CheckpointStore | None,
    epoch_log: EpochLog | None,
) -> None:
    """Logs the epoch and checkpoints the run (the chief only)."""
    if epoch_log is not None:
        epoch_log.log_epoch(record)
    if checkpoints is not None:
        checkpoints.save(
            TrainingState(
                epoch=int(record["epoch"]),
                model_variables=_snapshot(model.variables),
                optimizer_variables=_snapshot(optimizer.variables),
                best_variables=progress.best_variables,
                history=progress.history,
                progress={"fingerprint": run_id, "best": progress.best},
            )
        )


def _float32_copy(model: keras.Model, architecture: tuple, options: dict) -> keras.Model:
    """The same weights in a float32 model outside any strategy: what evaluation and
    export get, whatever precision and placement trained it."""
    keras.mixed_precision.set_dtype_policy("float32")
    copy = build_model(*architecture, **options)
    copy.set_weights(model.get_weights())
    return copy
