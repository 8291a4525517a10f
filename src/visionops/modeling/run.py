"""Where a training run happens: this process, or N Ray Train workers on a cluster.

With ``RAY_ADDRESS`` set (see :mod:`visionops.dataplane.parallel`), the training stage
starts ``training.ray_workers`` workers through Ray Train's ``TensorflowTrainer``
(:func:`visionops.modeling.ray_training.train_on_ray`), each running the same loop
under MultiWorkerMirroredStrategy; without it, it trains here and nothing imports Ray.
"""

from __future__ import annotations

from typing import Any

from visionops.dataplane.parallel import ray_address
from visionops.dataplane.reader import ShardedDataset
from visionops.errors import ConfigError
from visionops.modeling.checkpoint import CheckpointStore, EpochLog
from visionops.modeling.trainer import TrainingResult, train_model


def ray_workers(params: dict[str, Any]) -> int:
    """``training.ray_workers``, checked.

    Raises:
        ConfigError: It is not a whole number >= 1.
    """
    workers = params.get("ray_workers", 2)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"training.ray_workers must be a whole number >= 1; got {workers!r}")
    return workers


def run_training(
    train: ShardedDataset,
    val: ShardedDataset,
    params: dict[str, Any],
    checkpoints: CheckpointStore | None = None,
    epoch_log: EpochLog | None = None,
) -> TrainingResult:
    """Trains on ``train``, validating on ``val``: on Ray when ``RAY_ADDRESS`` is set,
    else in this process (see :func:`visionops.modeling.trainer.train_model`)."""
    if not ray_address():
        return train_model(train, val, params, checkpoints=checkpoints, epoch_log=epoch_log)
    import ray

    from visionops.dataplane.parallel import connect_to_ray
    from visionops.modeling.ray_training import train_on_ray

    connect_to_ray()
    workers = ray_workers(params)
    # A GPU for each worker where the cluster has that many; else they train on CPUs.
    use_gpu = ray.cluster_resources().get("GPU", 0) >= workers
    result = train_on_ray(
        train.folder,
        val.folder,
        params,
        workers,
        use_gpu=use_gpu,
        checkpoint_dir=None if checkpoints is None else checkpoints.directory,
    )
    if epoch_log is not None:
        # The workers ran elsewhere: the chief's epochs are logged here, in order.
        for record in result.history:
            epoch_log.log_epoch(record)
        epoch_log.finish()
    return result
