"""``trainjob.yaml``: the training stage on N pods at once, as a Kubeflow Trainer TrainJob.

Kubeflow Trainer has no TensorFlow runtime of its own, so the file holds two
documents: a namespaced ``TrainingRuntime`` (a JobSet of N indexed pods of the image
on the project volume) and the ``TrainJob`` that runs the training stage on it. Each
pod sets ``TF_CONFIG`` from its index and the pods' stable host names, and the
stage's own loop trains under MultiWorkerMirroredStrategy
(:mod:`visionops.modeling.distribution`).

Every worker runs ``kedro run --pipelines training``. Worker 0 is the chief: it runs
in the project and writes the model, its records and the checkpoints to the volume.
The others run in a scratch copy of the project whose data/ holds links to the splits
and to the chief's checkpoint folder only, so they read what the chief reads (and
resume from the same epoch) but their own copies of the outputs never reach the
volume.
"""

from __future__ import annotations

import json
from typing import Any

from visionops.containers import layout
from visionops.containers.kube import (
    LABELS,
    claim_volume,
    project_mounts,
    resources,
    security_context,
    volume_setup,
)
from visionops.containers.specs import Workflow, yaml_file

TRAINJOB = "visionops-training"
RUNTIME = "visionops-tensorflow"
TRAINER_GROUP = "trainer.kubeflow.org"
TRAINER_API = f"{TRAINER_GROUP}/v1alpha1"
NODE = "node"  # the replicated job and container name Kubeflow Trainer fills in
TF_PORT = 2222  # where each worker's TensorFlow gRPC server listens
# Folders of data/ that the other workers read from the volume (the splits, and the
# chief's checkpoint, so that every worker resumes after the same epoch).
SHARED_INPUTS = ("05_model_input", "06_models/training_checkpoint")


def worker_hosts(workers: int) -> list[str]:
    """Each worker's ``host:port``: the pods' names behind the JobSet's headless service."""
    return [f"{TRAINJOB}-{NODE}-0-{index}.{TRAINJOB}:{TF_PORT}" for index in range(workers)]


def worker_script(workers: int) -> str:
    """The shell script each pod runs: ``TF_CONFIG`` from ``JOB_COMPLETION_INDEX``, then
    the training stage, in the project (worker 0) or in a scratch copy of it.

    It runs in the project folder (the image's working directory); the scratch copy goes
    under ``$TMPDIR`` (default /tmp).
    """
    hosts = json.dumps(worker_hosts(workers), separators=(",", ":"))
    data = layout.DATA_DIR.removeprefix(f"{layout.PROJECT_DIR}/")
    # A link to a checkpoint folder the chief has not made yet reads as "no checkpoint".
    links = "\n".join(
        f'mkdir -p "$(dirname "$scratch/{data}/{folder}")"\n'
        f'ln -s "$project/{data}/{folder}" "$scratch/{data}/{folder}"'
        for folder in SHARED_INPUTS
    )
    return f"""\
set -eu
index="${{JOB_COMPLETION_INDEX:?runs as a pod of an indexed Job}}"
export TF_CONFIG='{{"cluster":{{"worker":{hosts}}},"task":{{"type":"worker","index":'"$index"'}}}}'
if [ "$index" = 0 ]; then
  exec {" ".join(layout.stage_command("training"))}
fi
project="$PWD"
scratch="${{TMPDIR:-/tmp}}/visionops-worker-$index"
rm -rf "$scratch"
mkdir -p "$scratch"
cp -R pyproject.toml params.yaml conf "$scratch/"
# Kedro asks for the project's src/ inside it; the package is installed, so it is empty.
mkdir -p "$scratch/src"
{links}
cd "$scratch"
exec {" ".join(layout.stage_command("training"))}
"""


def _runtime(workflow: Workflow) -> dict[str, Any]:
    training = workflow.operations["training"]
    pod = {
        "restartPolicy": "Never",
        "securityContext": security_context(),
        "initContainers": [{"name": "volume", **volume_setup(workflow.image)}],
        "containers": [
            {
                "name": NODE,
                "image": workflow.image,
                "ports": [{"name": "tf-worker", "containerPort": TF_PORT}],
                "volumeMounts": project_mounts(),
            }
        ],
        "volumes": [claim_volume()],
    }
    job = {
        "completionMode": "Indexed",
        # One worker failing stops the job: under MultiWorkerMirroredStrategy the
        # others cannot go on without it. JobSet then restarts every worker together.
        "backoffLimit": 0,
        "activeDeadlineSeconds": training.timeout_s,
        "template": {"metadata": {"labels": LABELS}, "spec": pod},
    }
    return {
        "apiVersion": TRAINER_API,
        "kind": "TrainingRuntime",
        "metadata": {"name": RUNTIME, "labels": LABELS},
        "spec": {
            "mlPolicy": {"numNodes": workflow.workers},
            "template": {
                "spec": {
                    # A restart resumes from the chief's checkpoint after the last epoch.
                    "failurePolicy": {"maxRestarts": training.retries},
                    "network": {"enableDNSHostnames": True, "publishNotReadyAddresses": True},
                    "replicatedJobs": [
                        {
                            "name": NODE,
                            "template": {
                                "metadata": {
                                    "labels": {
                                        "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"
                                    }
                                },
                                "spec": job,
                            },
                        }
                    ],
                }
            },
        },
    }


def render_trainjob(workflow: Workflow) -> str:
    """``trainjob.yaml``: the TrainingRuntime and the TrainJob of N training workers."""
    trainjob = {
        "apiVersion": TRAINER_API,
        "kind": "TrainJob",
        "metadata": {"name": TRAINJOB, "labels": LABELS},
        "spec": {
            "runtimeRef": {
                "apiGroup": TRAINER_GROUP,
                "kind": "TrainingRuntime",
                "name": RUNTIME,
            },
            "trainer": {
                "numNodes": workflow.workers,
                "command": ["sh", "-c", worker_script(workflow.workers)],
                "resourcesPerNode": resources(workflow.operations["training"]),
            },
        },
    }
    usage = (
        "Needs Kubeflow Trainer v2 (and JobSet) on the cluster, and the splits on the claim\n"
        "(run the stages up to data_processing first, e.g. with the Argo workflow):\n"
        "  kubectl apply -f pipelines/volume.yaml -f pipelines/trainjob.yaml\n"
        "  kubectl delete trainjob visionops-training   # before the next run: the name is fixed,\n"
        "                                               # as TF_CONFIG names the pods by it\n"
        f"Trains on training.ray_workers of params.yaml ({workflow.workers}) pods under\n"
        "MultiWorkerMirroredStrategy; worker 0 writes the model to the claim. Each pod has\n"
        "the training stage's resources and time limit from conf/base/operations.yml; the\n"
        "workers restart together up to its retries, resuming after the last finished epoch.\n"
        "The claim must be ReadWriteMany when the pods land on several nodes."
    )
    return yaml_file(_runtime(workflow), trainjob, usage=usage)
