"""The training loop: reproducible, resumable after kill -9, distributed, mixed precision."""

from __future__ import annotations

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

from visionops.errors import ConfigError
from visionops.modeling.checkpoint import CheckpointStore

SCRIPT = Path(__file__).with_name("train_script.py")
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


def train(
    tmp_path: Path,
    name: str,
    checkpoint: Path | None = None,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> dict:
    """Runs the training script in a fresh process; returns its metadata and history."""
    output = tmp_path / f"{name}.json"
    command = [sys.executable, str(SCRIPT), json.dumps({**PARAMS, **overrides}), str(output)]
    if checkpoint is not None:
        command.append(str(checkpoint))
    subprocess.run(command, check=True, env=_env(**(env or {})), timeout=300, capture_output=True)
    return json.loads(output.read_text())


def test_same_seed_gives_the_same_weights_and_another_seed_other_weights(tmp_path: Path) -> None:
    first = train(tmp_path, "first")["metadata"]
    again = train(tmp_path, "again")["metadata"]
    other = train(tmp_path, "other", seed=2)["metadata"]
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
def test_a_run_killed_after_epoch_k_resumes_at_k_plus_1_with_the_same_final_weights(
    tmp_path: Path,
) -> None:
    epochs, killed_after = 6, 2
    uninterrupted = train(tmp_path, "whole", epochs=epochs)["metadata"]
    checkpoint = tmp_path / "checkpoint"
    command = [
        sys.executable,
        str(SCRIPT),
        json.dumps({**PARAMS, "epochs": epochs}),
        str(tmp_path / "killed.json"),
        str(checkpoint),
    ]
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

    resumed = train(tmp_path, "resumed", checkpoint=checkpoint, epochs=epochs)
    assert resumed["metadata"]["resumed_after_epoch"] == stopped_at
    assert [record["epoch"] for record in resumed["history"]] == list(range(1, epochs + 1))
    assert resumed["metadata"]["weights_sha256"] == uninterrupted["weights_sha256"]
    assert not checkpoint.exists(), "a finished run must clean up its checkpoint"


def test_a_checkpoint_of_other_parameters_is_not_resumed(tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint"
    train(tmp_path, "seeded", checkpoint=checkpoint, epochs=2)
    # Leave a finished-looking checkpoint of another run behind, then train anew.
    from visionops.modeling.checkpoint import TrainingState

    CheckpointStore(checkpoint).save(
        TrainingState(1, [np.zeros(1)], [], [], [], {"fingerprint": "another run"})
    )
    result = train(tmp_path, "fresh", checkpoint=checkpoint, epochs=2)
    assert result["metadata"]["resumed_after_epoch"] == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_workers_with_tf_config_train_the_same_weights(tmp_path: Path) -> None:
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        command = [
            sys.executable,
            str(SCRIPT),
            json.dumps({**PARAMS, "epochs": 2}),
            str(tmp_path / f"worker{index}.json"),
        ]
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


def test_mirrored_strategy_over_two_devices_trains(tmp_path: Path) -> None:
    """The MirroredStrategy path (several GPUs), here over two logical CPU devices."""
    result = train(tmp_path, "mirrored", env={"MIRRORED_CPUS": "2"}, epochs=2)
    assert result["metadata"]["strategy"] == "mirrored"
    assert result["metadata"]["replicas"] == 2
    assert result["history"][-1]["loss"] < result["history"][0]["loss"]


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_on_cpu_and_exports_float32(tmp_path: Path, precision: str) -> None:
    result = train(tmp_path, precision, precision=precision, epochs=2)
    assert result["metadata"]["precision"] == precision
    assert np.isfinite([record["loss"] for record in result["history"]]).all()


def test_mixed_precision_model_is_float32_after_training() -> None:
    """In-process: the returned model computes in float32 and the policy is reset."""
    import keras

    sys.path.insert(0, str(SCRIPT.parent))
    from train_script import synthetic

    from visionops.modeling.trainer import train_model

    result = train_model(
        synthetic(64, 0), synthetic(16, 1), {**PARAMS, "epochs": 1, "precision": "mixed_float16"}
    )
    assert keras.mixed_precision.dtype_policy().name == "float32"
    assert all(layer.compute_dtype == "float32" for layer in result.model.layers)
    probabilities = result.model.predict(synthetic(4, 2).images.astype("float32"), verbose=0)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_early_stopping_restores_the_best_epoch(tmp_path: Path) -> None:
    result = train(tmp_path, "early", epochs=30, early_stopping_patience=2, learning_rate=0.05)
    metadata = result["metadata"]
    if metadata["stopped_early"]:
        assert metadata["epochs_run"] == metadata["best_epoch"] + 2
    losses = [record["val_loss"] for record in result["history"]]
    assert metadata["best_epoch"] == int(np.argmin(losses)) + 1


def test_streaming_from_shards_is_deterministic(tmp_path: Path) -> None:
    """A split over the memory budget streams from TFRecord shards, still reproducibly."""
    first = train(tmp_path, "s1", checkpoint=tmp_path / "c1", cache_budget_mb=0, epochs=2)
    second = train(tmp_path, "s2", checkpoint=tmp_path / "c2", cache_budget_mb=0, epochs=2)
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
def test_bad_parameters_are_named(overrides: dict, named: str) -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    from train_script import synthetic

    from visionops.modeling.trainer import train_model

    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        train_model(synthetic(64, 0), synthetic(16, 1), {**PARAMS, **overrides})


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
