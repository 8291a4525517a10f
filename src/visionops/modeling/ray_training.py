"""Training with several workers on a Ray cluster: Ray Train starts them, ours trains.

:func:`train_on_ray` starts ``workers`` Ray Train workers through
``ray.train.tensorflow.TensorflowTrainer``, which gives each worker a ``TF_CONFIG``
naming them all. Each worker opens the split folders itself and runs
:func:`~visionops.modeling.trainer.train_model`, which sees ``TF_CONFIG`` and trains
under MultiWorkerMirroredStrategy with the project's own loop (Keras 3's
``model.fit`` does not work under that strategy). Every worker reports its weights'
sha256 and history; the chief (rank 0) also reports the model. Back on the driver
the workers must agree, and the chief's model, history and metadata come back as a
:class:`~visionops.modeling.trainer.TrainingResult`: the same object a local run
returns.

The split folders (and ``checkpoint_dir``, when given) must be readable at the same
path on every node, e.g. a shared volume. With ``RAY_ADDRESS`` set the workers run
on that cluster; without it Ray starts a cluster of this machine alone.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from visionops.errors import ConfigError, VisionOpsError
from visionops.modeling.trainer import TrainingResult

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
WORKER_FILE = "worker-{rank}.json"


def train_on_ray(
    train_folder: str | os.PathLike[str],
    val_folder: str | os.PathLike[str],
    params: dict[str, Any],
    workers: int,
    *,
    use_gpu: bool = False,
    storage_path: str | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    max_failures: int = 0,
) -> TrainingResult:
    """Trains on ``workers`` Ray Train workers; returns the chief's result.

    Args:
        train_folder: The training split, a dataset version folder.
        val_folder: The validation split.
        params: The ``training`` parameters (see params.yaml).
        workers: How many worker processes train, one replica each.
        use_gpu: Gives each worker one GPU of the cluster.
        storage_path: Where Ray Train keeps the run's results: a folder every node
            can write (a shared volume) or a URI such as ``s3://bucket/runs``; None
            uses a temporary folder of this machine (a one-machine cluster only).
        checkpoint_dir: Where the chief checkpoints after every epoch and every
            worker resumes from (a shared volume); None trains without checkpoints.
        max_failures: How many times Ray Train restarts the workers after a failure;
            with ``checkpoint_dir`` a restart resumes after the last finished epoch.

    Returns:
        The chief's float32 model, history, metadata and performance.

    Raises:
        ConfigError: ``workers`` is not a whole number >= 1, ``RAY_ADDRESS`` names no
            cluster, a split folder is missing, or the workers disagree.
        VisionOpsError: A worker failed on the data or the parameters (its own error).
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"workers must be a whole number >= 1; got {workers!r}")
    folders = [Path(train_folder).resolve(), Path(val_folder).resolve()]
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(f"split folder {folder} does not exist; build the splits first")
    _connect()
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.tensorflow import TensorflowTrainer

    config = {
        "train_folder": str(folders[0]),
        "val_folder": str(folders[1]),
        "params": params,
        "checkpoint_dir": None if checkpoint_dir is None else str(Path(checkpoint_dir).resolve()),
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="visionops-ray-") as scratch:
        trainer = TensorflowTrainer(
            _train_worker,
            train_loop_config=config,
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
            run_config=RunConfig(
                storage_path=storage_path or scratch,
                failure_config=FailureConfig(max_failures=max_failures),
            ),
        )
        try:
            outcome = trainer.fit()
        except Exception as error:  # Ray Train wraps the workers' own errors
            _raise_worker_error(error)
            raise
        if outcome.checkpoint is None:
            raise ConfigError("the Ray Train run ended without the chief's model")
        with outcome.checkpoint.as_directory() as folder:
            result = _collect(Path(folder), workers)
    performance = {
        **result.performance,
        "ray_wall_seconds": round(time.perf_counter() - started, 3),
    }
    return TrainingResult(result.model, result.history, result.metadata, performance)


def _connect() -> None:
    """Connects to ``RAY_ADDRESS`` (a ConfigError at once where nothing answers), or
    starts Ray on this machine."""
    from visionops.dataplane.parallel import connect_to_ray, ray_address

    if ray_address():
        connect_to_ray()
        return
    import ray

    if not ray.is_initialized():
        ray.init(logging_level=logging.WARNING, log_to_driver=False)


def _train_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: trains under the ``TF_CONFIG`` Ray Train set, reports."""
    import ray.train

    # Ray Train asks for tf.keras 2 (TF_USE_LEGACY_KERAS); the project uses Keras 3.
    os.environ.pop("TF_USE_LEGACY_KERAS", None)
    from visionops.dataplane.reader import ShardedDataset
    from visionops.modeling.checkpoint import CheckpointStore
    from visionops.modeling.saving import save_model_deterministic
    from visionops.modeling.trainer import train_model

    checkpoints = (
        CheckpointStore(Path(config["checkpoint_dir"])) if config["checkpoint_dir"] else None
    )
    result = train_model(
        ShardedDataset(Path(config["train_folder"])),
        ShardedDataset(Path(config["val_folder"])),
        config["params"],
        checkpoints=checkpoints,
    )
    rank = ray.train.get_context().get_world_rank()
    with tempfile.TemporaryDirectory(prefix="visionops-worker-") as folder:
        record = {
            "metadata": result.metadata,
            "history": result.history,
            "performance": result.performance,
        }
        (Path(folder) / WORKER_FILE.format(rank=rank)).write_text(json.dumps(record))
        if rank == 0:
            save_model_deterministic(result.model, Path(folder) / MODEL_FILE)
        ray.train.report(
            {"weights_sha256": result.metadata["weights_sha256"], "rank": rank},
            checkpoint=ray.train.Checkpoint.from_directory(folder),
        )


def _collect(folder: Path, workers: int) -> TrainingResult:
    """The chief's result from the run's checkpoint, once every worker agrees."""
    from visionops.modeling.saving import load_model
    from visionops.modeling.trainer import weights_sha256

    records = [
        json.loads((folder / WORKER_FILE.format(rank=rank)).read_text())
        for rank in range(workers)
        if (folder / WORKER_FILE.format(rank=rank)).exists()
    ]
    if len(records) != workers:
        raise ConfigError(f"{len(records)} of {workers} Ray Train workers reported a result")
    hashes = {record["metadata"]["weights_sha256"] for record in records}
    if len(hashes) != 1:
        raise ConfigError(
            f"the {workers} Ray Train workers ended with different weights ({len(hashes)} "
            "sha256s); training was not synchronous: check that every node runs the same "
            "visionops and TensorFlow"
        )
    chief = records[0]
    model = load_model(folder / MODEL_FILE)
    if weights_sha256(model) != chief["metadata"]["weights_sha256"]:
        raise ConfigError(f"the chief's model in {folder} does not hold the weights it trained")
    return TrainingResult(model, chief["history"], chief["metadata"], chief["performance"])


def _raise_worker_error(error: Exception) -> None:
    """Raises a worker's own VisionOpsError (bad data, bad parameters) as itself."""
    failures = getattr(error, "worker_failures", None) or {}
    for failure in failures.values():
        cause = getattr(failure, "cause", failure)
        if isinstance(cause, VisionOpsError):
            raise cause from error
