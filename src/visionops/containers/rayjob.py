"""``rayjob.yaml``: the stages that scale out on Ray, as a KubeRay RayJob.

KubeRay starts a RayCluster of the visionops image (a head and N workers, every pod
on the project volume) and runs the job's entrypoint on the head, with ``RAY_ADDRESS``
set: ingestion sends its per-shard tasks to the workers, training starts N Ray Train
workers (``training.ray_workers``), and data_validation and data_processing, which
have no per-shard work, run in the driver between them. The head takes no Ray tasks
(``num-cpus: 0``), so its CPUs and memory are the driver's.
"""

from __future__ import annotations

import dataclasses
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
from visionops.containers.operations import StageOperations, combined
from visionops.containers.specs import Workflow, yaml_file

RAYJOB = "visionops-ray"
# The stages the job runs, in order; data_processing lies between validation and
# training. Ingestion's tasks and training's workers are the ones that spread out.
RAY_STAGES = ("ingestion", "data_validation", "data_processing", "training")
WORKER_STAGES = ("ingestion", "training")
HEAD_PORTS = (("gcs-server", 6379), ("dashboard", 8265), ("client", 10001))


def entrypoint(stages: tuple[str, ...] = RAY_STAGES) -> str:
    """The job's shell command: each stage in turn, in the project, stopping at a failure."""
    runs = " && ".join(" ".join(layout.stage_command(stage)) for stage in stages)
    return f"cd {layout.PROJECT_DIR} && {runs}"


def _pod(workflow: Workflow, container: str, operations: StageOperations) -> dict[str, Any]:
    node: dict[str, Any] = {"name": container, "image": workflow.image}
    if container == "ray-head":
        node["ports"] = [{"name": name, "containerPort": port} for name, port in HEAD_PORTS]
    node["volumeMounts"] = project_mounts()
    node["resources"] = resources(operations)
    return {
        "metadata": {"labels": LABELS},
        "spec": {
            "securityContext": security_context(),
            # Every pod makes the claim's folders, whichever starts first.
            "initContainers": [{"name": "volume", **volume_setup(workflow.image)}],
            "containers": [node],
            "volumes": [claim_volume()],
        },
    }


def render_rayjob(workflow: Workflow) -> str:
    """``rayjob.yaml``: a RayJob of the Ray stages on a head and N workers."""
    run = combined(workflow.operations, RAY_STAGES)
    # The driver trains nothing itself: Ray Train's workers hold the GPUs.
    head = dataclasses.replace(run, gpu=0)
    worker = combined(workflow.operations, WORKER_STAGES)
    document = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": RAYJOB, "labels": LABELS},
        "spec": {
            "entrypoint": entrypoint(),
            "activeDeadlineSeconds": run.timeout_s,
            # A retry starts a new cluster and runs every stage again (ingestion's cache
            # and DVC's outputs are on the claim); no stage runs more often than it allows.
            "backoffLimit": run.retries,
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 600,
            "rayClusterSpec": {
                "rayVersion": workflow.ray_version,
                "headGroupSpec": {
                    "rayStartParams": {"num-cpus": "0"},
                    "template": _pod(workflow, "ray-head", head),
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "workers",
                        "replicas": workflow.workers,
                        "minReplicas": workflow.workers,
                        "maxReplicas": workflow.workers,
                        "rayStartParams": {},
                        "template": _pod(workflow, "ray-worker", worker),
                    }
                ],
            },
        },
    }
    usage = (
        "Needs the KubeRay operator on the cluster; the image must hold Ray's dashboard\n"
        "(ray[default]), through which KubeRay submits the job:\n"
        "  kubectl apply -f pipelines/volume.yaml -f pipelines/rayjob.yaml\n"
        "  kubectl delete rayjob visionops-ray   # before the next run (the name is fixed)\n"
        f"Runs {', '.join(RAY_STAGES)} on a head and {workflow.workers} workers\n"
        "(training.ray_workers of params.yaml), with RAY_ADDRESS set by Ray's job runner.\n"
        "From conf/base/operations.yml: each worker asks for what ingestion or training asks\n"
        "for, the head for what the most demanding of the four does (without GPUs); the time\n"
        "limit is the sum of theirs, the retries the fewest of theirs. Every pod mounts the\n"
        "claim: make it ReadWriteMany when they land on several nodes."
    )
    return yaml_file(document, usage=usage)
