"""Training on Ray Train workers gives what the same workers give under a plain TF_CONFIG."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from visionops.dataplane.ingest import write_arrays
from visionops.errors import ConfigError
from visionops.image_dataset import ImageDataset
from visionops.modeling.ray_training import train_on_ray

CLUSTER_SCRIPT = Path(__file__).parents[2] / "scripts" / "ray_local_cluster.sh"
# Outside Ray's worker ports (10002-19999); the cluster has a namespace to itself.
RAY_PORT = 26380
PARAMS: dict[str, Any] = {
    "architecture": "simple_cnn",
    "width": 8,
    "dropout_rate": 0.25,
    "epochs": 2,
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


def synthetic(count: int, seed: int) -> ImageDataset:
    """Three classes, each lighting one band of a 12x12 image, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    images = rng.integers(0, 60, size=(count, 12, 12, 1))
    for index, label in enumerate(labels):
        images[index, label * 4 : label * 4 + 4] += 150
    return ImageDataset(
        images=images.astype(np.uint8),
        labels=labels.astype(np.int64),
        class_names=("a", "b", "c"),
        source_ids=np.asarray([f"synthetic:{index}" for index in range(count)]),
    )


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("splits")
    write_arrays(synthetic(192, 0), root / "train", images_per_shard=64)
    write_arrays(synthetic(48, 1), root / "val", images_per_shard=64)
    return root / "train", root / "val"


def test_a_bad_worker_count_or_a_missing_split_is_named(
    splits: tuple[Path, Path], tmp_path: Path
) -> None:
    train, val = splits
    with pytest.raises(ConfigError, match="workers must be a whole number >= 1"):
        train_on_ray(train, val, PARAMS, 0)
    with pytest.raises(ConfigError, match=f"split folder {tmp_path / 'absent'} does not exist"):
        train_on_ray(tmp_path / "absent", val, PARAMS, 2)


# One worker of the plain multi-worker run: TF_CONFIG set by hand, as a launcher would.
TF_CONFIG_WORKER = """
import json, sys
from pathlib import Path
from visionops.dataplane.reader import ShardedDataset
from visionops.modeling.trainer import train_model

params, train, val, output = json.loads(sys.argv[1]), *map(Path, sys.argv[2:5])
result = train_model(ShardedDataset(train), ShardedDataset(val), params)
output.write_text(json.dumps({"metadata": result.metadata, "history": result.history}))
"""

# The driver on the Ray cluster: trains on two workers, then once with parameters
# every worker refuses.
RAY_DRIVER = """
import json, sys, time
from pathlib import Path
from visionops.modeling.ray_training import train_on_ray
from visionops.modeling.trainer import weights_sha256

params, train, val, output = json.loads(sys.argv[1]), *map(Path, sys.argv[2:5])
started = time.perf_counter()
result = train_on_ray(train, val, params, 2)
seconds = time.perf_counter() - started
try:
    train_on_ray(train, val, {**params, "batch_size": 1000}, 2)
    error = None
except Exception as raised:
    error = {"type": type(raised).__name__, "message": str(raised)}
output.write_text(json.dumps({
    "metadata": result.metadata,
    "history": result.history,
    "returned_model_sha256": weights_sha256(result.model),
    "performance": result.performance,
    "seconds": seconds,
    "error": error,
}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    for name in ("TF_CONFIG", "RAY_ADDRESS"):
        env.pop(name, None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def _cluster_prefix() -> list[str]:
    """Runs a command against a 2-node cluster on loopback; skips where this machine
    does not allow the namespaces that needs."""
    namespaces = ["unshare", "--net", "--pid", "--fork", "--mount-proc"]
    if os.geteuid() != 0:
        namespaces.insert(1, "--map-root-user")
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed: no loopback-only namespace for the Ray cluster")
    trial = subprocess.run([*namespaces, "true"], capture_output=True, text=True, check=False)
    if trial.returncode != 0:
        pytest.skip(f"unshare is not permitted here ({trial.stderr.strip()})")
    return ["bash", str(CLUSTER_SCRIPT), "2", str(RAY_PORT)]


@pytest.mark.slow
def test_two_ray_train_workers_train_what_two_tf_config_workers_train(
    splits: tuple[Path, Path], tmp_path: Path
) -> None:
    """Ray Train's TensorflowTrainer only starts the processes and sets TF_CONFIG; the
    training is the same MultiWorkerMirroredStrategy run over the same split folders,
    seeds and deterministic ops, with the same worker ranks, so the weights and every
    epoch's figures are identical to a two-process run started by hand. Here the two
    Ray workers sit on two Ray nodes (one CPU each) of a cluster on loopback."""
    train, val = splits
    arguments = [json.dumps(PARAMS), str(train), str(val)]
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    plain = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        command = [sys.executable, "-c", TF_CONFIG_WORKER, *arguments, str(tmp_path / f"w{index}")]
        plain.append(
            subprocess.Popen(
                command, env={**_env(), "TF_CONFIG": config}, stderr=subprocess.PIPE, text=True
            )
        )
    started = time.perf_counter()
    on_ray = subprocess.run(
        [*_cluster_prefix(), sys.executable, "-c", RAY_DRIVER, *arguments, str(tmp_path / "ray")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    whole = time.perf_counter() - started
    for process in plain:
        _, errors = process.communicate(timeout=300)
        assert process.returncode == 0, errors[-3000:]
    assert on_ray.returncode == 0, on_ray.stderr[-4000:]
    ray_run = json.loads((tmp_path / "ray").read_text())
    workers = [json.loads((tmp_path / f"w{index}").read_text()) for index in range(2)]
    print(
        f"train_on_ray, 2 workers, 2 epochs of 192 images: {ray_run['seconds']:.1f} s "
        f"(training {ray_run['performance']['wall_seconds']:.1f} s; {whole:.1f} s with the "
        "cluster's start and stop and a refused run)"
    )

    assert ray_run["metadata"]["strategy"] == "multi_worker_mirrored"
    assert ray_run["metadata"]["workers"] == 2
    assert ray_run["metadata"]["replicas"] == 2
    # The chief's (rank 0's) metadata; rank 1 lists its own device first.
    assert ray_run["metadata"] == workers[0]["metadata"]
    assert ray_run["metadata"]["weights_sha256"] == workers[1]["metadata"]["weights_sha256"]
    assert ray_run["history"] == workers[0]["history"]
    assert ray_run["returned_model_sha256"] == ray_run["metadata"]["weights_sha256"]
    assert ray_run["history"][-1]["loss"] < ray_run["history"][0]["loss"]
    assert ray_run["error"]["type"] == "ConfigError"
    assert "fewer than training.batch_size 1000" in ray_run["error"]["message"]
