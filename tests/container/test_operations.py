"""conf/base/operations.yml: bad entries are refused by name, and every spec renders it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.conftest import ROOT
from visionops.containers.export import RENDERERS
from visionops.containers.operations import (
    OPERATIONS_FILE,
    StageOperations,
    combined,
    stage_operations,
)
from visionops.containers.schema_check import check
from visionops.containers.specs import Workflow
from visionops.errors import ConfigError
from visionops.stages import STAGES

# The specs that carry each stage's operations (volume.yaml holds none; airflow_dag.py
# is rendered and tested on its own).
OPERATION_SPECS = (
    "docker-compose.yml",
    "argo-workflow.yaml",
    "cronjob.yaml",
    "rayjob.yaml",
    "trainjob.yaml",
)


def _project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "base" / OPERATIONS_FILE).write_text(text)
    return tmp_path


DEFAULTS = "defaults: {retries: 1, timeout: 1h, cpu: 1, memory: 2Gi, gpu: 0}\n"


def test_the_project_file_loads_for_every_stage():
    operations = stage_operations(ROOT, STAGES)
    assert list(operations) == list(STAGES)
    assert all(entry.timeout_s > 0 and entry.memory_bytes > 0 for entry in operations.values())


def test_a_stage_entry_is_laid_over_the_defaults(tmp_path: Path):
    project = _project(tmp_path, DEFAULTS + "stages:\n  training: {cpu: 500m, gpu: 2}\n")
    operations = stage_operations(project, STAGES)
    assert operations["training"] == StageOperations(1, 3600, "500m", "2Gi", 2)
    assert operations["ingestion"] == StageOperations(1, 3600, "1", "2Gi", 0)
    assert operations["training"].cpu_cores == 0.5
    assert operations["training"].memory_mb == 2048


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ("  trainer: {cpu: 2}\n", r"unknown stage 'trainer' in .*operations\.yml; the stages are"),
        ("  training: {memroy: 2Gi}\n", r"unknown key 'memroy' for training in .*operations\.yml"),
        ("  training: {timeout: 6 h}\n", r"timeout of training in .*operations\.yml is '6 h'"),
        ("  training: {timeout: 0s}\n", r"timeout of training in .*operations\.yml is '0s'"),
        ("  training: {memory: 6GB}\n", r"memory of training in .*operations\.yml is '6GB'"),
        ("  training: {cpu: two}\n", r"cpu of training in .*operations\.yml is 'two'"),
        ("  training: {retries: -1}\n", r"retries of training in .*operations\.yml is -1"),
        ("  training: {gpu: true}\n", r"gpu of training in .*operations\.yml is True"),
        ("  training: 6Gi\n", r"training in .*operations\.yml must be a mapping"),
    ],
)  # fmt: skip
def test_a_bad_entry_is_refused_naming_key_and_file(tmp_path: Path, stages: str, message: str):
    project = _project(tmp_path, DEFAULTS + "stages:\n" + stages)
    with pytest.raises(ConfigError, match=message) as caught:
        stage_operations(project, STAGES)
    assert str(project / "conf" / "base" / OPERATIONS_FILE) in str(caught.value)


def test_incomplete_defaults_and_a_missing_file_are_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"operations\.yml is missing"):
        stage_operations(tmp_path, STAGES)
    project = _project(tmp_path, "defaults: {retries: 1}\n")
    with pytest.raises(ConfigError, match=r"defaults in .*operations\.yml lacks timeout, cpu"):
        stage_operations(project, STAGES)


def test_a_whole_run_takes_the_most_of_each_and_the_fewest_retries():
    operations = {
        "a": StageOperations(2, 60, "500m", "1Gi", 0),
        "b": StageOperations(0, 120, "2", "512Mi", 1),
    }
    assert combined(operations, ["a", "b"]) == StageOperations(0, 180, "2", "1Gi", 1)
    assert combined(operations, ["a"]) == operations["a"]


CHANGED = """\
defaults: {retries: 3, timeout: 20m, cpu: 1500m, memory: 1536Mi, gpu: 0}
stages:
  ingestion: {cpu: 3, memory: 5Gi, timeout: 77m}
  training: {retries: 2, timeout: 5h, cpu: 4, memory: 7Gi, gpu: 1}
  deployment: {retries: 0}
"""


@pytest.fixture(scope="module")
def changed_specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Every spec rendered from an operations.yml unlike the project's."""
    project = _project(tmp_path_factory.mktemp("project"), CHANGED)
    shutil.copy(ROOT / "conf" / "base" / "scheduling.yml", project / "conf" / "base")
    workflow = Workflow(
        image="visionops:test",
        stages=STAGES,
        dependencies={stage: list(STAGES[:i][-1:]) for i, stage in enumerate(STAGES)},
        cron="0 3 * * *",
        operations=stage_operations(project, STAGES),
        workers=3,
        ray_version="2.60.0",
    )
    return {name: list(yaml.safe_load_all(RENDERERS[name](workflow))) for name in OPERATION_SPECS}


def test_a_changed_file_reaches_compose(changed_specs: dict[str, list[dict[str, Any]]]):
    (compose,) = changed_specs["docker-compose.yml"]
    services = compose["services"]
    training = services["training"]
    assert training["restart"] == "on-failure:2"
    assert training["deploy"]["resources"]["limits"] == {"memory": "7168m"}
    assert training["deploy"]["resources"]["reservations"] == {
        "cpus": 4.0,
        "devices": [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}],
    }
    assert services["ingestion"]["deploy"]["resources"]["reservations"] == {"cpus": 3.0}
    assert services["evaluation"]["deploy"]["resources"]["limits"] == {"memory": "1536m"}
    assert services["deployment"]["restart"] == "no"
    # The scheduler retrains every stage in its container: the most of each.
    assert services["schedule"]["deploy"]["resources"]["limits"] == {"memory": "7168m"}


def test_a_changed_file_reaches_argo(changed_specs: dict[str, list[dict[str, Any]]]):
    (workflow,) = changed_specs["argo-workflow.yaml"]
    check(workflow, "argo-workflow.yaml")
    templates = {template["name"]: template for template in workflow["spec"]["templates"]}
    assert templates["ingestion"]["activeDeadlineSeconds"] == 77 * 60
    assert templates["ingestion"]["container"]["resources"] == {
        "requests": {"cpu": "3", "memory": "5Gi"},
        "limits": {"memory": "5Gi"},
    }
    training = templates["training"]
    assert training["retryStrategy"] == {"limit": 2, "retryPolicy": "OnError"}
    assert training["activeDeadlineSeconds"] == 5 * 3600
    assert training["container"]["resources"]["limits"] == {"memory": "7Gi", "nvidia.com/gpu": 1}
    assert templates["evaluation"]["retryStrategy"]["limit"] == 3
    assert "retryStrategy" not in templates["deployment"]


def test_a_changed_file_reaches_the_cronjob(changed_specs: dict[str, list[dict[str, Any]]]):
    (cronjob,) = changed_specs["cronjob.yaml"]
    check(cronjob, "cronjob.yaml")
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == (77 + 5 * 60 + 4 * 20) * 60
    assert job["backoffLimit"] == 0  # deployment's
    (container,) = job["template"]["spec"]["containers"]
    assert container["resources"]["requests"] == {
        "cpu": "4",
        "memory": "7Gi",
        "nvidia.com/gpu": 1,
    }


def test_a_changed_file_reaches_the_rayjob(changed_specs: dict[str, list[dict[str, Any]]]):
    (rayjob,) = changed_specs["rayjob.yaml"]
    check(rayjob, "rayjob.yaml")
    spec = rayjob["spec"]
    assert spec["activeDeadlineSeconds"] == (77 + 20 + 20 + 5 * 60) * 60
    assert spec["backoffLimit"] == 2
    (head,) = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"]
    assert head["resources"]["requests"] == {"cpu": "4", "memory": "7Gi"}  # no GPU
    (group,) = spec["rayClusterSpec"]["workerGroupSpecs"]
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == 3
    (worker,) = group["template"]["spec"]["containers"]
    assert worker["resources"]["limits"] == {"memory": "7Gi", "nvidia.com/gpu": 1}


def test_a_changed_file_reaches_the_trainjob(changed_specs: dict[str, list[dict[str, Any]]]):
    runtime, trainjob = changed_specs["trainjob.yaml"]
    check(runtime, "trainjob.yaml")
    check(trainjob, "trainjob.yaml")
    assert runtime["spec"]["template"]["spec"]["failurePolicy"] == {"maxRestarts": 2}
    (node,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    assert node["template"]["spec"]["activeDeadlineSeconds"] == 5 * 3600
    assert trainjob["spec"]["trainer"]["numNodes"] == 3
    assert trainjob["spec"]["trainer"]["resourcesPerNode"] == {
        "requests": {"cpu": "4", "memory": "7Gi", "nvidia.com/gpu": 1},
        "limits": {"memory": "7Gi", "nvidia.com/gpu": 1},
    }
