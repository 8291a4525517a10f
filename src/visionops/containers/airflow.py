"""The stages as Airflow DAGs: ``airflow_dag.py`` (one DockerOperator per stage) and
``airflow_dag_kubernetes.py`` (one KubernetesPodOperator per stage).

Written from templates rather than with kedro-airflow, whose DAG runs Kedro nodes
inside the Airflow worker: here every stage runs in its own container of the image,
as in the other specs, and the worker needs only the provider. Each task's retries,
time limit and resources come from conf/base/operations.yml (``Workflow.operations``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from visionops.containers import kube, layout
from visionops.containers.specs import HEADER, Workflow, comment

# Set in the Airflow process, it replaces every stage's retries: 0 in `airflow dags
# test`, so that a failing stage fails the run at once instead of after retry delays.
RETRIES_VARIABLE = "VISIONOPS_RETRIES"
DOCKER_DAG_ID = "visionops"
KUBERNETES_DAG_ID = "visionops_kubernetes"

_DOCKER_TEMPLATE = '''\
{header}"""visionops: ingestion to deployment, each stage in its own container.

Needs apache-airflow-providers-docker on the worker and a Docker engine it can reach
(docs/orchestrators.md). Set VISIONOPS_PROJECT_DIR to the Docker host's folder holding
data/ and registry/, VISIONOPS_USER to the uid:gid that owns it, VISIONOPS_IMAGE to the
image; {retries_variable}=N replaces every stage's retries (0 in `airflow dags test`).
Retries, time limits and resources come from conf/base/operations.yml: memory is the
container's limit, CPUs its share of the host's CPU time (DockerOperator's `cpus` is
Docker's cpu_shares). Retraining on a schedule belongs to `visionops schedule`
(pipelines/cronjob.yaml); this DAG runs when triggered. On Kubernetes, use
pipelines/airflow_dag_kubernetes.py.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.docker.operators.docker import DockerOperator
from docker.types import {docker_types}

IMAGE = os.environ.get("VISIONOPS_IMAGE", {image})
PROJECT_DIR = os.environ.get("VISIONOPS_PROJECT_DIR", "/srv/visionops")
USER = os.environ.get("VISIONOPS_USER", {user})
RETRIES = os.environ.get("{retries_variable}")

# Each stage: the stages whose outputs it reads, and how it runs.
STAGES = {stages}

with DAG(
    dag_id="{dag_id}",
    description="visionops stages, one container each",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["visionops"],
) as dag:
    tasks = {{
        stage: DockerOperator(
            task_id=stage,
            image=IMAGE,
            command=[{command}],
            user=USER,
            mounts=[
                Mount(target={data_dir}, source=f"{{PROJECT_DIR}}/data", type="bind"),
                Mount(target={registry_dir}, source=f"{{PROJECT_DIR}}/registry", type="bind"),
            ],
            mount_tmp_dir=False,
            auto_remove="success",
            cpus=spec["cpus"],
            mem_limit=spec["mem_limit"],{device_requests}
            retries=int(RETRIES) if RETRIES else spec["retries"],
            execution_timeout=timedelta(seconds=spec["timeout_s"]),
        )
        for stage, spec in STAGES.items()
    }}
    for stage, spec in STAGES.items():
        for name in spec["upstream"]:
            tasks[name] >> tasks[stage]
'''

_DEVICE_REQUESTS = """
            device_requests=(
                [DeviceRequest(count=spec["gpus"], capabilities=[["gpu"]])]
                if spec["gpus"]
                else None
            ),"""

_KUBERNETES_TEMPLATE = '''\
{header}"""visionops: ingestion to deployment, each stage in its own pod on Kubernetes.

Needs apache-airflow-providers-cncf-kubernetes on the worker and a cluster it can reach
(in the cluster, or through the connection kubernetes_default). Every pod mounts data/
and registry/ of the claim {claim} (kubectl apply -f pipelines/volume.yaml) and runs
as the image's user, as in pipelines/argo-workflow.yaml. Set VISIONOPS_IMAGE to an
image the cluster can pull and VISIONOPS_NAMESPACE to the claim's namespace;
{retries_variable}=N replaces every stage's retries. Each pod requests the CPU, memory
and GPUs of conf/base/operations.yml, memory being its limit too; its time limit is the
task's execution_timeout. pipelines/airflow_dag.py is the same DAG on a Docker engine.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

IMAGE = os.environ.get("VISIONOPS_IMAGE", {image})
NAMESPACE = os.environ.get("VISIONOPS_NAMESPACE", "default")
RETRIES = os.environ.get("{retries_variable}")

# Each stage: the stages whose outputs it reads, its pod's name, and how it runs.
STAGES = {stages}

# What every stage's pod has besides its container's image, command and resources:
# the image's user, the claim, and an init container that creates data/ and registry/.
POD = {pod}

with DAG(
    dag_id="{dag_id}",
    description="visionops stages, one pod each",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["visionops"],
) as dag:
    tasks = {{
        stage: KubernetesPodOperator(
            task_id=stage,
            name=spec["pod"],
            namespace=NAMESPACE,
            image=IMAGE,
            cmds=[{command}],
            pod_template_dict=POD,
            container_resources=k8s.V1ResourceRequirements(**spec["resources"]),
            on_finish_action="delete_succeeded_pod",
            retries=int(RETRIES) if RETRIES else spec["retries"],
            execution_timeout=timedelta(seconds=spec["timeout_s"]),
        )
        for stage, spec in STAGES.items()
    }}
    for stage, spec in STAGES.items():
        for name in spec["upstream"]:
            tasks[name] >> tasks[stage]
'''


# How wide a dict or list written on one line may be, its indentation included: its key
# and a comma still fit in ruff's 100 columns.
_FLAT_WIDTH = 76


class _Code(str):
    """Python source written into a DAG as it is, not as a string literal."""


def _literal(value: object, indent: int = 0) -> str:
    """``value`` (dicts, lists, strings, numbers, booleans, :class:`_Code`) as Python
    source at ``indent``: a short dict or list of scalars on one line, else one entry
    a line."""
    if isinstance(value, _Code):
        return str(value)
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)
    if not isinstance(value, dict | list):
        return json.dumps(value)
    entries = (
        [f"{json.dumps(key)}: {_literal(item, indent + 4)}" for key, item in value.items()]
        if isinstance(value, dict)
        else [_literal(item, indent + 4) for item in value]
    )
    start, end = ("{", "}") if isinstance(value, dict) else ("[", "]")
    items = value.values() if isinstance(value, dict) else value
    flat = start + ", ".join(entries) + end
    scalars = not any(isinstance(item, dict | list) for item in items)
    if indent and scalars and indent + len(flat) <= _FLAT_WIDTH:
        return flat
    inner = " " * (indent + 4)
    return start + "\n" + "".join(f"{inner}{entry},\n" for entry in entries) + " " * indent + end


def _command() -> str:
    """A stage's container command as Python, of the DAG's loop variable ``stage``."""
    command = ", ".join(json.dumps(part) for part in layout.stage_command("STAGE"))
    return command.replace('"STAGE"', "stage")


def _common(workflow: Workflow, entry: Callable[[str], dict[str, object]]) -> dict[str, str]:
    """The placeholders both templates share."""
    return {
        "header": comment(HEADER),
        "image": json.dumps(workflow.image),
        "retries_variable": RETRIES_VARIABLE,
        "stages": _literal({stage: entry(stage) for stage in workflow.stages}),
        "command": _command(),
    }


def render_airflow(workflow: Workflow) -> str:
    """``airflow_dag.py``: valid Python, importable where Airflow is installed."""

    def entry(stage: str) -> dict[str, object]:
        operations = workflow.operations[stage]
        return {
            "upstream": list(workflow.dependencies[stage]),
            "retries": operations.retries,
            "timeout_s": operations.timeout_s,
            "cpus": operations.cpu_cores,
            "mem_limit": f"{operations.memory_mb}m",
            "gpus": operations.gpu,
        }

    gpus = any(operations.gpu for operations in workflow.operations.values())
    return _DOCKER_TEMPLATE.format(
        **_common(workflow, entry),
        dag_id=DOCKER_DAG_ID,
        docker_types="DeviceRequest, Mount" if gpus else "Mount",
        user=json.dumps(f"{layout.USER_ID}:{layout.GROUP_ID}"),
        data_dir=json.dumps(layout.DATA_DIR),
        registry_dir=json.dumps(layout.REGISTRY_DIR),
        device_requests=_DEVICE_REQUESTS if gpus else "",
    )


def render_airflow_kubernetes(workflow: Workflow) -> str:
    """``airflow_dag_kubernetes.py``: the same DAG with KubernetesPodOperator, the pods
    built from the pieces the Argo workflow uses (:mod:`visionops.containers.kube`)."""

    def entry(stage: str) -> dict[str, object]:
        operations = workflow.operations[stage]
        return {
            "upstream": list(workflow.dependencies[stage]),
            "pod": f"visionops-{layout.resource_name(stage)}",
            "retries": operations.retries,
            "timeout_s": operations.timeout_s,
            "resources": kube.resources(operations),
        }

    pod = {
        "metadata": {"labels": kube.LABELS},
        "spec": {
            "securityContext": kube.security_context(),
            "initContainers": [{"name": "volume", **kube.volume_setup(_Code("IMAGE"))}],
            "containers": [{"name": "base", "volumeMounts": kube.project_mounts()}],
            "volumes": [kube.claim_volume()],
        },
    }
    return _KUBERNETES_TEMPLATE.format(
        **_common(workflow, entry),
        dag_id=KUBERNETES_DAG_ID,
        claim=kube.CLAIM,
        pod=_literal(pod),
    )


# The files of pipelines/ this module writes, by name.
RENDERERS: dict[str, Callable[[Workflow], str]] = {
    "airflow_dag.py": render_airflow,
    "airflow_dag_kubernetes.py": render_airflow_kubernetes,
}
