"""The training loop: reproducible, resumable after kill -9, distributed, mixed precision."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from visionops.dataplane.reader import ShardedDataset
from visionops.errors import ConfigError
from visionops.image_dataset import ImageDataset
from visionops.modeling.checkpoint import CheckpointStore, TrainingState

SCRIPT = Path(__file__).with_name("train_script.py")
sys.path.insert(0, str(SCRIPT.parent))
from train_script import synthetic, write_split, write_splits  # noqa: E402

PARAMS: dict[str, Any] = {
    "architecture": "simple_cnn",
    "width": 8,
    "dropout_rate": 0.25,
    "epochs": 4,
    "batch_size": 16,
    "optimizer": "adam",
    "learning_rate": 0.003,
    "schedule": "one_cycle",
    "weight_decay": 0.0001,
    "label_smoothing": 0.1,
    "augmentation": {"flip": True, "translate": 1},
    "early_stopping_patience": 0,
    "precision": "float32",
    "deterministic": True,
    "cache_budget_mb": 64,
    "seed": 1,
    "verbose": False,
}


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    return {**env, **extra}


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the train and val split folders the training script reads."""
    return write_splits(tmp_path_factory.mktemp("splits"))


def _command(splits: Path, params: dict[str, Any], output: Path) -> list[str]:
    return [sys.executable, str(SCRIPT), str(splits), json.dumps(params), str(output)]


def train(
    tmp_path: Path,
    splits: Path,
    name: str,
    checkpoint: Path | None = None,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> dict:
    """Runs the training script in a fresh process; returns its metadata and history."""
    output = tmp_path / f"{name}.json"
    command = _command(splits, {**PARAMS, **overrides}, output)
    if checkpoint is not None:
        command.append(str(checkpoint))
    subprocess.run(command, check=True, env=_env(**(env or {})), timeout=300, capture_output=True)
    return json.loads(output.read_text())


@pytest.mark.slow
def test_same_seed_gives_the_same_weights_and_another_seed_other_weights(
    tmp_path: Path, splits: Path
) -> None:
    first = train(tmp_path, splits, "first")["metadata"]
    again = train(tmp_path, splits, "again")["metadata"]
    other = train(tmp_path, splits, "other", seed=2)["metadata"]
    assert first["weights_sha256"] == again["weights_sha256"]
    assert first["weights_sha256"] != other["weights_sha256"]
    assert first["deterministic"] is True
    assert first["strategy"] == "default"
    assert first["epochs_run"] == 4
    assert set(first["versions"]) == {"tensorflow", "keras", "numpy"}


def _epochs_checkpointed(checkpoint: Path) -> int:
    state = CheckpointStore(checkpoint).load() if (checkpoint / "state.npz").exists() else None
    return state.epoch if state else 0


@pytest.mark.slow
@pytest.mark.parametrize("cache_budget_mb", [64, 0], ids=["in memory", "streamed"])
def test_a_run_killed_after_epoch_k_resumes_at_k_plus_1_with_the_same_final_weights(
    tmp_path: Path, splits: Path, cache_budget_mb: int
) -> None:
    epochs, killed_after = 6, 2
    params = {**PARAMS, "epochs": epochs, "cache_budget_mb": cache_budget_mb}
    uninterrupted = train(tmp_path, splits, "whole", **params)["metadata"]
    checkpoint = tmp_path / "checkpoint"
    command = [*_command(splits, params, tmp_path / "killed.json"), str(checkpoint)]
    process = subprocess.Popen(
        command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while _epochs_checkpointed(checkpoint) < killed_after:
        assert process.poll() is None, "training finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed.json").exists()
    stopped_at = _epochs_checkpointed(checkpoint)
    assert killed_after <= stopped_at < epochs

    resumed = train(tmp_path, splits, "resumed", checkpoint=checkpoint, **params)
    assert resumed["metadata"]["resumed_after_epoch"] == stopped_at
    assert [record["epoch"] for record in resumed["history"]] == list(range(1, epochs + 1))
    assert resumed["metadata"]["weights_sha256"] == uninterrupted["weights_sha256"]
    assert not checkpoint.exists(), "a finished run must clean up its checkpoint"


@pytest.mark.slow
def test_a_checkpoint_of_other_parameters_is_not_resumed(tmp_path: Path, splits: Path) -> None:
    checkpoint = tmp_path / "checkpoint"
    train(tmp_path, splits, "seeded", checkpoint=checkpoint, epochs=2)
    # Leave a finished-looking checkpoint of another run behind, then train anew.
    CheckpointStore(checkpoint).save(
        TrainingState(1, [np.zeros(1)], [], [], [], {"fingerprint": "another run"})
    )
    result = train(tmp_path, splits, "fresh", checkpoint=checkpoint, epochs=2)
    assert result["metadata"]["resumed_after_epoch"] == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("cache_budget_mb", [64, 0], ids=["in memory", "streamed"])
def test_two_workers_with_tf_config_train_the_same_weights(
    tmp_path: Path, splits: Path, cache_budget_mb: int
) -> None:
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        params = {**PARAMS, "epochs": 2, "cache_budget_mb": cache_budget_mb}
        command = _command(splits, params, tmp_path / f"worker{index}.json")
        processes.append(
            subprocess.Popen(command, env=_env(TF_CONFIG=config), stderr=subprocess.PIPE, text=True)
        )
    for process in processes:
        _, errors = process.communicate(timeout=300)
        assert process.returncode == 0, errors[-3000:]
    results = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]
    assert results[0]["metadata"]["strategy"] == "multi_worker_mirrored"
    assert results[0]["metadata"]["workers"] == 2
    assert results[0]["metadata"]["replicas"] == 2
    assert results[0]["metadata"]["weights_sha256"] == results[1]["metadata"]["weights_sha256"]
    assert results[0]["history"][-1]["loss"] < results[0]["history"][0]["loss"]


@pytest.mark.slow
def test_mirrored_strategy_over_two_devices_trains(tmp_path: Path, splits: Path) -> None:
    """The MirroredStrategy path (several GPUs), here over two logical CPU devices."""
    result = train(tmp_path, splits, "mirrored", env={"MIRRORED_CPUS": "2"}, epochs=2)
    assert result["metadata"]["strategy"] == "mirrored"
    assert result["metadata"]["replicas"] == 2
    assert result["history"][-1]["loss"] < result["history"][0]["loss"]


def _split(folder: Path, dataset: ImageDataset) -> ShardedDataset:
    return write_split(dataset, folder)


@pytest.mark.parametrize(
    ("precision", "low"), [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")]
)
def test_mixed_precision_trains_on_cpu_and_exports_float32(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, precision: str, low: str
) -> None:
    """The layers train in the low precision; the returned model, and the .keras file
    saved from it, compute in float32, and the global policy is float32 again."""
    import keras

    from visionops.modeling import trainer
    from visionops.modeling.saving import load_model, save_model_deterministic

    build_model, built = trainer.build_model, []

    def recording_build_model(*args: Any, **kwargs: Any) -> keras.Model:
        built.append(build_model(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(trainer, "build_model", recording_build_model)
    result = trainer.train_model(
        _split(tmp_path / "train", synthetic(64, 0)),
        _split(tmp_path / "val", synthetic(16, 1)),
        {**PARAMS, "epochs": 2, "precision": precision},
    )

    assert result.metadata["precision"] == precision
    assert len(result.history) == 2
    assert np.isfinite([record["loss"] for record in result.history]).all()
    trained, returned = built
    convolutions = [layer for layer in trained.layers if isinstance(layer, keras.layers.Conv2D)]
    assert {layer.compute_dtype for layer in convolutions} == {low}, "trained in mixed precision"
    assert returned is result.model
    for got, learned in zip(returned.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(got, learned)  # the mixed model kept float32 weights
    assert keras.mixed_precision.dtype_policy().name == "float32"
    save_model_deterministic(result.model, tmp_path / "model.keras")
    saved = load_model(tmp_path / "model.keras")
    for model in (result.model, saved):
        assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
        assert {variable.dtype for variable in model.weights} == {"float32"}
        probabilities = model.predict(synthetic(4, 2).images.astype("float32"), verbose=0)
        assert probabilities.dtype == np.float32
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    for got, kept in zip(result.model.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(got, kept)


class RecordingCheckpoints(CheckpointStore):
    """Keeps every epoch's saved state, as well as writing it."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.states: dict[int, TrainingState] = {}

    def save(self, state: TrainingState) -> None:
        self.states[state.epoch] = state
        super().save(state)


def test_early_stopping_restores_the_best_epoch(tmp_path: Path) -> None:
    """Half the validation images carry the next class's label: val_loss falls while
    the model learns the bands, then rises as it grows sure of itself on the mislabelled
    half, so a patience of 1 stops the run, and the model returned is the best epoch's."""
    import keras

    from visionops.modeling.trainer import train_model

    val = synthetic(48, 1)
    labels = val.labels.copy()
    labels[24:] = (labels[24:] + 1) % 3
    val = dataclasses.replace(val, labels=labels)
    checkpoints = RecordingCheckpoints(tmp_path / "checkpoint")
    params = {**PARAMS, "epochs": 12, "early_stopping_patience": 1}
    result = train_model(
        _split(tmp_path / "train", synthetic(96, 0)),
        _split(tmp_path / "val", val),
        params,
        checkpoints=checkpoints,
    )

    metadata = result.metadata
    losses = [record["val_loss"] for record in result.history]
    best, last = metadata["best_epoch"], metadata["epochs_run"]
    assert metadata["stopped_early"] is True
    assert best == int(np.argmin(losses)) + 1
    assert last == best + 1 < 12, "stopped after one epoch without improvement"
    assert losses[last - 1] > losses[best - 1]
    # The returned weights are those the model held after the best epoch, not the last.
    weights = {variable.path for variable in result.model.weights}
    held_after = {
        epoch: [
            value
            for variable, value in zip(
                result.model.variables, checkpoints.states[epoch].model_variables, strict=True
            )
            if variable.path in weights
        ]
        for epoch in (best, last)
    }
    returned = result.model.get_weights()
    for got, recorded in zip(returned, held_after[best], strict=True):
        np.testing.assert_array_equal(got, recorded)
    assert any(
        not np.array_equal(got, recorded)
        for got, recorded in zip(returned, held_after[last], strict=True)
    )
    # So its validation loss, recomputed from scratch, is the best epoch's.
    probabilities = result.model(val.images.astype("float32"), training=False)
    per_image = keras.losses.categorical_crossentropy(
        keras.ops.one_hot(val.labels, 3), probabilities, label_smoothing=PARAMS["label_smoothing"]
    )
    assert float(keras.ops.mean(per_image)) == pytest.approx(losses[best - 1], rel=1e-5)


@pytest.mark.slow
def test_streaming_from_shards_is_deterministic(tmp_path: Path, splits: Path) -> None:
    """Splits over the memory budget stream from their shards, still reproducibly."""
    first = train(tmp_path, splits, "s1", checkpoint=tmp_path / "c1", cache_budget_mb=0, epochs=2)
    second = train(tmp_path, splits, "s2", checkpoint=tmp_path / "c2", cache_budget_mb=0, epochs=2)
    assert first["metadata"]["weights_sha256"] == second["metadata"]["weights_sha256"]
    assert first["history"][-1]["loss"] < first["history"][0]["loss"]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"epochs": 0}, "training.epochs"),
        ({"batch_size": 1000}, "training.batch_size"),
        ({"precision": "float8"}, "training.precision"),
        ({"optimizer": "rmsprop"}, "training.optimizer"),
        ({"schedule": "step"}, "training.schedule"),
        ({"augmentation": {"rotate": 10}}, "training.augmentation"),
        ({"label_smoothing": 1.5}, "training.label_smoothing"),
        ({"architecture": "vgg"}, "training.architecture"),
    ],
)
def test_bad_parameters_are_named(splits: Path, overrides: dict, named: str) -> None:
    from visionops.modeling.trainer import train_model

    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        train_model(
            ShardedDataset(splits / "train"),
            ShardedDataset(splits / "val"),
            {**PARAMS, **overrides},
        )


def test_splits_of_other_classes_are_refused_by_name(tmp_path: Path, splits: Path) -> None:
    from visionops.modeling.trainer import train_model

    other = dataclasses.replace(synthetic(48, 1), class_names=("x", "y", "z"))
    with pytest.raises(ConfigError, match="disagree on the class names"):
        train_model(ShardedDataset(splits / "train"), _split(tmp_path / "val", other), PARAMS)


def test_live_log_writes_dvclive_metrics_per_epoch(tmp_path: Path) -> None:
    from visionops.datasets.training_run import LiveLog

    log = LiveLog(tmp_path / "dvclive")
    for epoch in (1, 2):
        log.log_epoch(
            {
                "epoch": epoch,
                "loss": 1.0 / epoch,
                "accuracy": 0.5,
                "val_loss": 1.2 / epoch,
                "val_accuracy": 0.4,
                "learning_rate": 0.001,
            }
        )
    log.finish()
    metrics = tmp_path / "dvclive" / "plots" / "metrics"
    loss = (metrics / "train" / "loss.tsv").read_text().splitlines()
    assert loss[0].split("\t") == ["step", "loss"]
    assert len(loss) == 3
    assert (metrics / "val" / "accuracy.tsv").is_file()
    assert (metrics / "learning_rate.tsv").is_file()
    summary = json.loads((tmp_path / "dvclive" / "metrics.json").read_text())
    assert summary["train"]["loss"] == 0.5
