"""Pieces every Kubernetes spec of pipelines/ shares: the pod's user, the project
volume, and a container's resources from conf/base/operations.yml."""

from __future__ import annotations

from typing import Any

from visionops.containers import layout
from visionops.containers.operations import StageOperations

CLAIM = "visionops-project"  # the PersistentVolumeClaim holding data/ and registry/
LABELS = {"app.kubernetes.io/name": "visionops"}
VOLUME_MOUNT = "/volume"  # where the claim's root is mounted to create its folders
GPU_RESOURCE = "nvidia.com/gpu"  # the NVIDIA device plugin's resource name


def security_context() -> dict[str, Any]:
    """The pod's security context: the image's non-root user, owning the volume."""
    return {
        "runAsUser": layout.USER_ID,
        "runAsGroup": layout.GROUP_ID,
        "fsGroup": layout.GROUP_ID,
        "runAsNonRoot": True,
    }


def project_mounts() -> list[dict[str, str]]:
    """data/ and registry/ of the claim, where the image expects them."""
    return [
        {"name": "project", "mountPath": layout.DATA_DIR, "subPath": "data"},
        {"name": "project", "mountPath": layout.REGISTRY_DIR, "subPath": "registry"},
    ]


def volume_setup(image: str) -> dict[str, Any]:
    """A container (without its name) that creates data/ and registry/ on the claim."""
    # A subPath the kubelet creates belongs to root; made here, it belongs to the user.
    return {
        "image": image,
        "command": ["mkdir", "-p", f"{VOLUME_MOUNT}/data", f"{VOLUME_MOUNT}/registry"],
        "volumeMounts": [{"name": "project", "mountPath": VOLUME_MOUNT}],
    }


def claim_volume() -> dict[str, Any]:
    """The pod volume ``project``: the claim of pipelines/volume.yaml."""
    return {"name": "project", "persistentVolumeClaim": {"claimName": CLAIM}}


def resources(operations: StageOperations) -> dict[str, Any]:
    """A container's ``resources``: the CPU, memory and GPUs of ``operations`` requested.

    Memory is also the limit, so a stage that outgrows it is stopped (OOMKilled) where
    it can be seen rather than starving its node; CPU has no limit, so a stage may use
    idle cores (its process pool sizes itself to the node). GPUs must be limits.
    """
    requests: dict[str, Any] = {"cpu": operations.cpu, "memory": operations.memory}
    limits: dict[str, Any] = {"memory": operations.memory}
    if operations.gpu:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = operations.gpu
    return {"requests": requests, "limits": limits}
