"""``airflow_dag.py``: the stages as an Airflow DAG, one DockerOperator per stage.

Written from a template rather than with kedro-airflow, whose DAG runs Kedro nodes
inside the Airflow worker: here every stage runs in its own container of the image,
as in the other specs, and the worker needs only the Docker provider.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from visionops.containers import layout
from visionops.containers.specs import HEADER, Workflow, comment

_TEMPLATE = '''\
{header}"""visionops: ingestion to deployment, each stage in its own container.

Needs apache-airflow-providers-docker on the worker and a Docker engine it can reach.
Set VISIONOPS_PROJECT_DIR to the Docker host's folder holding data/ and registry/,
VISIONOPS_USER to the uid:gid that owns it, VISIONOPS_IMAGE to the image. Retraining
on a schedule belongs to `visionops schedule` (pipelines/cronjob.yaml); this DAG runs
when triggered. On Kubernetes, swap DockerOperator for KubernetesPodOperator with the
same image and commands and the volume of pipelines/volume.yaml.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow import DAG
from airflow.providers.docker.operators.docker import DockerOperator
from docker.types import Mount

IMAGE = os.environ.get("VISIONOPS_IMAGE", {image})
PROJECT_DIR = os.environ.get("VISIONOPS_PROJECT_DIR", "/srv/visionops")
USER = os.environ.get("VISIONOPS_USER", {user})

# Each stage and the stages whose outputs it reads.
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
        )
        for stage in STAGES
    }}
    for stage, upstream in STAGES.items():
        for name in upstream:
            tasks[name] >> tasks[stage]
'''


def render_airflow(workflow: Workflow) -> str:
    """``airflow_dag.py``: valid Python, importable where Airflow is installed."""
    stages = "".join(
        f"    {json.dumps(stage)}: {json.dumps(list(workflow.dependencies[stage]))},\n"
        for stage in workflow.stages
    )
    command = ", ".join(json.dumps(part) for part in layout.stage_command("STAGE"))
    return _TEMPLATE.format(
        header=comment(HEADER),
        image=json.dumps(workflow.image),
        user=json.dumps(f"{layout.USER_ID}:{layout.GROUP_ID}"),
        stages=stages,
        command=command.replace('"STAGE"', "stage"),
        data_dir=json.dumps(layout.DATA_DIR),
        registry_dir=json.dumps(layout.REGISTRY_DIR),
    )


# The files of pipelines/ this module writes, by name.
RENDERERS: dict[str, Callable[[Workflow], str]] = {"airflow_dag.py": render_airflow}
