"""The Airflow DAGs of pipelines/ under a real Airflow 3 (.orchestrators/).

`airflow dags test visionops` runs each stage's container on the local engine, in
dependency order, and the model is registered; bad data fails its stage's task with
the stage's error in the task log, and no task after it runs. Both DAGs, the
KubernetesPodOperator one too (no cluster needed), load in a DagBag with each task's
retries, time limit and resources from conf/base/operations.yml.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from importlib import import_module
from pathlib import Path

import pytest

from e2e.conftest import ROOT
from visionops.containers import airflow as airflow_specs
from visionops.containers import kube, layout
from visionops.containers.graph import stage_dependencies
from visionops.containers.operations import stage_operations
from visionops.containers.specs import Workflow
from visionops.registry.layout import list_versions, read_labels
from visionops.stages import STAGES

from .conftest import (
    BROKEN_IMAGE_ERROR,
    RUN_TIMEOUT_S,
    VALIDATION_ERROR,
    airflow_dags_test,
    airflow_env,
    airflow_home,
    bad_data_project,
    orchestrated_project,
)

pytestmark = [pytest.mark.container, pytest.mark.slow]

# Run by .orchestrators/bin/python: loads a folder of DAGs in a DagBag and writes, as
# JSON, its import errors and each task's settings (a KubernetesPodOperator's: the pod
# it would create, built without a cluster).
DESCRIBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from kubernetes.client import ApiClient

bag = DagBag(dag_folder=sys.argv[1])
described = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    tasks = described["dags"].setdefault(dag_id, {})
    for task in dag.tasks:
        entry = tasks[task.task_id] = {
            "operator": type(task).__name__,
            "upstream": sorted(task.upstream_task_ids),
            "retries": task.retries,
            "timeout_s": task.execution_timeout.total_seconds(),
        }
        if entry["operator"] == "DockerOperator":
            entry.update(
                command=task.command, cpus=task.cpus, mem_limit=task.mem_limit,
                mounts=[dict(mount) for mount in task.mounts],
                device_requests=[dict(request) for request in task.device_requests or []],
            )
        else:
            pod = task.build_pod_request_obj(dry_run=True)
            entry["pod"] = ApiClient().sanitize_for_serialization(pod)
with open(sys.argv[2], "w") as out:
    json.dump(described, out)
"""


@pytest.fixture(scope="module")
def home(orchestrators: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AIRFLOW_HOME with a fresh SQLite database, for every run of this module."""
    return airflow_home(orchestrators, tmp_path_factory.mktemp("airflow"))


@pytest.fixture(scope="module")
def dependencies() -> dict[str, list[str]]:
    pipelines = {
        stage: import_module(f"visionops.pipelines.{stage}").create_pipeline() for stage in STAGES
    }
    return stage_dependencies(pipelines)


def describe_dags(orchestrators: Path, home: Path, folder: Path, tmp_path: Path) -> dict:
    """The DagBag of ``folder`` in the Airflow of .orchestrators/, as DESCRIBE writes it,
    with each stage's own retries (VISIONOPS_RETRIES unset)."""
    out = tmp_path / "described.json"
    env = {**airflow_env(orchestrators, home), "VISIONOPS_RETRIES": ""}
    result = subprocess.run(
        [str(orchestrators / "bin" / "python"), "-c", DESCRIBE, str(folder), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def test_dag_runs_each_stage_container_in_order_and_registers_the_model(
    image: str, orchestrators: Path, home: Path, tmp_path: Path
):
    project = orchestrated_project(tmp_path)

    run = airflow_dags_test(orchestrators, home, project, image)

    assert run.returncode == 0, run.output[-3000:]
    assert run.states == {stage: "success" for stage in STAGES}
    started = [
        stage
        for line in run.output.splitlines()
        for stage in STAGES
        if f"starting task_id={stage} " in line
    ]
    assert started == list(STAGES)
    assert "Registered classifier version 1" in run.task_log("deployment")
    assert list_versions(project / "registry", "classifier") == [1]
    assert read_labels(project / "registry") == {"classifier": {"production": 1}}
    metrics = json.loads((project / "data/08_reporting/metrics.json").read_text())
    assert metrics["accuracy"] > 0.95


def test_bad_data_fails_its_task_with_the_stage_error_and_nothing_after_runs(
    image_folder_image: str, orchestrators: Path, home: Path, tmp_path: Path
):
    project = bad_data_project(tmp_path)

    run = airflow_dags_test(orchestrators, home, project, image_folder_image)

    assert run.returncode != 0
    assert run.states == {
        "ingestion": "success",
        "data_validation": "failed",
        **{stage: "upstream_failed" for stage in STAGES[2:]},
    }
    log = run.task_log("data_validation")
    errors = [line for line in log.splitlines() if VALIDATION_ERROR in line]
    assert len(errors) == 1, log[-3000:]
    assert BROKEN_IMAGE_ERROR in log
    assert "Docker container failed" in log
    assert not any(f"starting task_id={stage} " in run.output for stage in STAGES[2:])
    assert not (project / "data/03_primary/validated.json").exists()
    assert not any((project / "registry").iterdir())


def test_both_dags_load_with_each_stage_operations(
    orchestrators: Path, home: Path, dependencies: dict[str, list[str]], tmp_path: Path
):
    described = describe_dags(orchestrators, home, ROOT / "pipelines", tmp_path)

    assert described["import_errors"] == {}
    docker_dag = described["dags"][airflow_specs.DOCKER_DAG_ID]
    kubernetes_dag = described["dags"][airflow_specs.KUBERNETES_DAG_ID]
    assert list(docker_dag) == list(kubernetes_dag) == list(STAGES)
    operations = stage_operations(ROOT, STAGES)
    for stage in STAGES:
        wanted = operations[stage]
        container, pod = docker_dag[stage], kubernetes_dag[stage]
        for task in (container, pod):
            assert task["upstream"] == sorted(dependencies[stage])
            assert (task["retries"], task["timeout_s"]) == (wanted.retries, wanted.timeout_s)
        assert container["operator"] == "DockerOperator"
        assert container["command"] == layout.stage_command(stage)
        assert (container["cpus"], container["mem_limit"]) == (
            wanted.cpu_cores,
            f"{wanted.memory_mb}m",
        )
        assert container["device_requests"] == []
        assert {mount["Target"] for mount in container["mounts"]} == {
            layout.DATA_DIR,
            layout.REGISTRY_DIR,
        }
        spec = pod["pod"]["spec"]
        (base,) = spec["containers"]
        assert base["command"] == layout.stage_command(stage)
        assert base["resources"] == kube.resources(wanted)
        assert base["volumeMounts"] == kube.project_mounts()
        assert spec["volumes"] == [kube.claim_volume()]
        assert spec["securityContext"] == kube.security_context()
        assert [init["name"] for init in spec["initContainers"]] == ["volume"]


def test_a_stage_that_asks_for_gpus_gets_them_from_docker_and_kubernetes(
    orchestrators: Path, home: Path, dependencies: dict[str, list[str]], tmp_path: Path
):
    operations = stage_operations(ROOT, STAGES)
    operations["training"] = dataclasses.replace(operations["training"], gpu=2)
    workflow = Workflow(
        image="visionops:gpu",
        stages=STAGES,
        dependencies=dependencies,
        cron="0 3 * * *",
        operations=operations,
    )
    dags = tmp_path / "dags"
    dags.mkdir()
    for name, render in airflow_specs.RENDERERS.items():
        (dags / name).write_text(render(workflow))

    described = describe_dags(orchestrators, home, dags, tmp_path)

    assert described["import_errors"] == {}
    docker_dag = described["dags"][airflow_specs.DOCKER_DAG_ID]
    (request,) = docker_dag["training"]["device_requests"]
    assert (request["Count"], request["Capabilities"]) == (2, [["gpu"]])
    assert all(not docker_dag[stage]["device_requests"] for stage in STAGES if stage != "training")
    pod = described["dags"][airflow_specs.KUBERNETES_DAG_ID]["training"]["pod"]
    assert pod["spec"]["containers"][0]["resources"]["limits"][kube.GPU_RESOURCE] == 2
