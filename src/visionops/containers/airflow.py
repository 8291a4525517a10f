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

from visionops.containers import layout
from visionops.containers.specs import HEADER, Workflow, comment

# Set in the Airflow process, it replaces every stage's retries: 0 in `airflow dags
# test`, so that a failing stage fails the run at once instead of after retry delays.
RETRIES_VARIABLE = "VISIONOPS_RETRIES"

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
RETRIES = os.environ.get({retries_variable_json})

# Each stage: the stages whose outputs it reads, and how it runs.
STAGES = {{
{stages}}}

with DAG(
    dag_id="visionops",
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


def _stage_entries(workflow: Workflow, entry: Callable[[str], dict[str, object]]) -> str:
    """The body of the DAG's ``STAGES`` dict: each stage's ``entry``, one field a line."""
    lines = []
    for stage in workflow.stages:
        lines.append(f"    {json.dumps(stage)}: {{\n")
        for key, value in entry(stage).items():
            lines.append(f"        {json.dumps(key)}: {json.dumps(value)},\n")
        lines.append("    },\n")
    return "".join(lines)


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
    command = ", ".join(json.dumps(part) for part in layout.stage_command("STAGE"))
    return _DOCKER_TEMPLATE.format(
        header=comment(HEADER),
        docker_types="DeviceRequest, Mount" if gpus else "Mount",
        image=json.dumps(workflow.image),
        user=json.dumps(f"{layout.USER_ID}:{layout.GROUP_ID}"),
        retries_variable=RETRIES_VARIABLE,
        retries_variable_json=json.dumps(RETRIES_VARIABLE),
        stages=_stage_entries(workflow, entry),
        command=command.replace('"STAGE"', "stage"),
        data_dir=json.dumps(layout.DATA_DIR),
        registry_dir=json.dumps(layout.REGISTRY_DIR),
        device_requests=_DEVICE_REQUESTS if gpus else "",
    )


# The files of pipelines/ this module writes, by name.
RENDERERS: dict[str, Callable[[Workflow], str]] = {"airflow_dag.py": render_airflow}
