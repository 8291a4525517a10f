"""Every Kubernetes document of pipelines/ matches its real schema, checked strictly.

Core kinds go to kubernetes-validate (strict); Argo's Workflow, KubeRay's RayJob and
Kubeflow Trainer's TrainJob and TrainingRuntime go to their vendored CRDs, closed to
unknown fields. A misspelled or misplaced field must fail the check: otherwise the
check could not tell a spec the cluster would refuse (or prune) from a good one.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from e2e.conftest import ROOT
from visionops.containers.export import RENDERERS, SPEC_DIR
from visionops.containers.schema_check import CRDS, SCHEMA_DIR, SchemaError, check

KUBERNETES_FILES = sorted(name for name in RENDERERS if name.endswith(".yaml"))
# Keys inside these are names of the user's choosing (a map), not fields of a schema.
MAPS = {"labels", "annotations", "requests", "limits", "rayStartParams", "nodeSelector"}


def _documents() -> list[tuple[str, int, dict[str, Any]]]:
    return [
        (name, position, document)
        for name in KUBERNETES_FILES
        for position, document in enumerate(
            yaml.safe_load_all((ROOT / SPEC_DIR / name).read_text())
        )
    ]


DOCUMENTS = _documents()


def _id(entry: tuple[str, int, dict[str, Any]]) -> str:
    return f"{entry[0]}:{entry[2]['kind']}"


def test_every_kubernetes_file_is_checked():
    assert {"argo-workflow.yaml", "cronjob.yaml", "volume.yaml", "rayjob.yaml"} <= set(
        KUBERNETES_FILES
    )
    assert "trainjob.yaml" in KUBERNETES_FILES
    kinds = {document["kind"] for _, _, document in DOCUMENTS}
    assert kinds == {
        "Workflow",
        "CronJob",
        "PersistentVolumeClaim",
        "RayJob",
        "TrainingRuntime",
        "TrainJob",
    }


@pytest.mark.parametrize("entry", DOCUMENTS, ids=_id)
def test_a_generated_document_matches_its_schema(entry: tuple[str, int, dict[str, Any]]):
    name, _, document = entry
    check(document, f"pipelines/{name}")


def _field_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a key of a mapping that a schema names (not a key of a map)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not path or path[-1] not in MAPS:
                yield (*path, key)
            yield from _field_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _field_paths(item, (*path, index))


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def _renamed(document: dict[str, Any], path: tuple[Any, ...], new: str) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    parent = _at(changed, path[:-1])
    # Rebuilt in order, so the misspelled key stands where the right one stood.
    items = list(parent.items())
    parent.clear()
    parent.update((new if key == path[-1] else key, value) for key, value in items)
    return changed


def _misspelled(key: str) -> str:
    """``containers`` -> ``container``, ``retryStrategy`` -> ``retryStrateg``."""
    return key[:-1]


@pytest.mark.parametrize("entry", DOCUMENTS, ids=_id)
def test_every_misspelled_field_fails_the_check(entry: tuple[str, int, dict[str, Any]]):
    name, _, document = entry
    paths = list(_field_paths(document))
    assert len(paths) >= 9
    passed = []
    for path in paths:
        wrong = _misspelled(path[-1])
        if wrong in _at(document, path[:-1]):
            continue
        try:
            check(_renamed(document, path, wrong), name)
        except SchemaError as error:
            assert wrong in str(error) or path[-1] in str(error), (path, str(error))
        else:
            passed.append(".".join(map(str, path)))
    assert not passed, f"{name}: misspelled, these still pass the check: {passed}"


def test_the_check_fails_on_a_named_misspelling():
    (workflow,) = [d for n, _, d in DOCUMENTS if n == "argo-workflow.yaml"]
    position = next(i for i, t in enumerate(workflow["spec"]["templates"]) if "retryStrategy" in t)
    path = ("spec", "templates", position, "retryStrategy")
    with pytest.raises(SchemaError, match=r"'retryStrategie' was unexpected") as caught:
        check(_renamed(workflow, path, "retryStrategie"), "argo-workflow.yaml")
    assert f"spec.templates[{position}]" in str(caught.value)
    (cronjob,) = [d for n, _, d in DOCUMENTS if n == "cronjob.yaml"]
    pod = ("spec", "jobTemplate", "spec", "template", "spec")
    # kubernetes-validate reports its best match: here, that containers is missing.
    with pytest.raises(SchemaError, match=r"'containers' is a required property"):
        check(_renamed(cronjob, (*pod, "containers"), "container"), "cronjob.yaml")


# (file, kind, a field, where it is moved to): a field moved to a level that has no
# such field. Paths are dotted; a number is a list position.
POD = "spec.jobTemplate.spec.template.spec"
STAGE = "spec.templates.2"  # the ingestion template
WORKERS = "spec.rayClusterSpec.workerGroupSpecs.0"
MISPLACED = [
    ("argo-workflow.yaml", "Workflow", f"{STAGE}.retryStrategy", f"{STAGE}.container"),
    ("argo-workflow.yaml", "Workflow", f"{STAGE}.container.resources", STAGE),
    ("cronjob.yaml", "CronJob", "spec.jobTemplate.spec.backoffLimit", "spec"),
    ("cronjob.yaml", "CronJob", f"{POD}.containers.0.volumeMounts", POD),
    ("volume.yaml", "PersistentVolumeClaim", "spec.resources.requests", "spec"),
    ("rayjob.yaml", "RayJob", f"{WORKERS}.replicas", "spec.rayClusterSpec"),
    ("rayjob.yaml", "RayJob", "spec.entrypoint", "spec.rayClusterSpec"),
    ("trainjob.yaml", "TrainingRuntime", "spec.mlPolicy.numNodes", "spec"),
    ("trainjob.yaml", "TrainJob", "spec.trainer.numNodes", "spec"),
]  # fmt: skip


def _path(dotted: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in dotted.split("."))


def test_every_document_has_a_misplacement():
    assert {(name, document["kind"]) for name, _, document in DOCUMENTS} == {
        (name, kind) for name, kind, *_ in MISPLACED
    }


@pytest.mark.parametrize(("name", "kind", "field", "target"), MISPLACED)
def test_a_misplaced_field_fails_the_check(name: str, kind: str, field: str, target: str):
    (document,) = [d for n, _, d in DOCUMENTS if n == name and d["kind"] == kind]
    check(document, name)
    moved = copy.deepcopy(document)
    *source, key = _path(field)
    _at(moved, _path(target))[key] = _at(moved, tuple(source)).pop(key)
    with pytest.raises(SchemaError, match=key):
        check(moved, name)


def test_a_document_of_no_known_kind_fails():
    with pytest.raises(SchemaError, match="no schema is known"):
        check({"apiVersion": "example.com/v1", "kind": "Pipeline", "metadata": {"name": "x"}})
    with pytest.raises(SchemaError, match="without apiVersion and kind"):
        check({"metadata": {"name": "x"}})


def test_vendored_schemas_are_the_upstream_files_listed():
    readme = (SCHEMA_DIR / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([^`]+\.yaml)` \|.*\| `([0-9a-f]{64})` \|", readme, re.M))
    assert set(rows) == set(CRDS.values())
    for file, sha256 in rows.items():
        assert hashlib.sha256((SCHEMA_DIR / file).read_bytes()).hexdigest() == sha256, file
    licences = set(re.findall(r"`(LICENSE\.[a-z-]+)`", readme))
    assert licences and all((SCHEMA_DIR / licence).is_file() for licence in licences)
