"""Checks the Kubernetes documents of pipelines/ against their real schemas, offline.

Core kinds (CronJob, PersistentVolumeClaim) go to the locked ``kubernetes-validate``
in its strict mode. Custom resources (Argo's Workflow, KubeRay's RayJob, Kubeflow
Trainer's TrainJob and TrainingRuntime) go to the ``openAPIV3Schema`` of their
CustomResourceDefinition, vendored in ``schemas/``, made strict the way the API
server is under strict field validation (``kubectl apply --validate=strict``): a
field the schema does not name is an error, where the server would otherwise prune
it in silence. That is, every object schema without ``additionalProperties`` or
``x-kubernetes-preserve-unknown-fields`` is closed, and the top-level ``metadata``
(a bare object in every CRD) is checked as Kubernetes' own strict ObjectMeta.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SCHEMA_DIR = Path(__file__).parent / "schemas"
# The oldest Kubernetes the specs are written for: the CronJob's podFailurePolicy is
# stable from 1.31.
KUBERNETES_VERSION = "1.31"
CRDS = {
    ("argoproj.io/v1alpha1", "Workflow"): "argoproj.io_workflows.yaml",
    ("ray.io/v1", "RayJob"): "ray.io_rayjobs.yaml",
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"): "trainer.kubeflow.org_trainjobs.yaml",
    (
        "trainer.kubeflow.org/v1alpha1",
        "TrainingRuntime",
    ): "trainer.kubeflow.org_trainingruntimes.yaml",
}
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_OPEN = "x-kubernetes-preserve-unknown-fields"
_EMBEDDED = "x-kubernetes-embedded-resource"


class SchemaError(ValueError):
    """A document does not match its kind's schema; the message lists every fault."""


def strict(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a CRD's structural schema in which every object that neither keeps
    unknown fields nor is a map rejects fields it does not name."""
    closed = copy.deepcopy(dict(schema))
    _close(closed)
    return closed


def _close(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _close(item)
        return
    if not isinstance(node, dict):
        return
    if node.get(_EMBEDDED):
        # An embedded object (a RawExtension) always has these three, schema or not.
        properties = node.setdefault("properties", {})
        for name in ("apiVersion", "kind"):
            properties.setdefault(name, {"type": "string"})
        properties.setdefault("metadata", {"type": "object", _OPEN: True})
    is_object = node.get("type") == "object" or "properties" in node
    if is_object and not node.get(_OPEN) and "additionalProperties" not in node:
        node["additionalProperties"] = False
    for key in ("properties", "patternProperties"):
        for child in (node.get(key) or {}).values():
            _close(child)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict | list):
            _close(node[key])
    for key in ("anyOf", "allOf", "oneOf"):
        _close(node.get(key) or [])


@cache
def _kubernetes_definitions() -> dict[str, Any]:
    """Kubernetes' strict definitions, as kubernetes-validate ships them."""
    import kubernetes_validate.utils as kubernetes

    version = [v for v in kubernetes.all_versions() if v.startswith(f"{KUBERNETES_VERSION}.")][-1]
    return kubernetes.schema_contents(
        f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version
    )


@cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The strict JSON schema of a vendored custom resource's served version.

    Raises:
        KeyError: No CRD of ``api_version`` and ``kind`` is vendored.
    """
    name = CRDS[(api_version, kind)]
    crd = yaml.load((SCHEMA_DIR / name).read_text(), Loader=_Loader)
    group, version = api_version.split("/")
    if crd["spec"]["group"] != group or crd["spec"]["names"]["kind"] != kind:
        raise KeyError(f"{name} defines {crd['spec']['names']['kind']}, not {kind}")
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    schema = strict(served["schema"]["openAPIV3Schema"])
    definitions = _kubernetes_definitions()
    schema["properties"]["metadata"] = {"$ref": f"{definitions['$id']}#/$defs/{_OBJECT_META}"}
    return schema


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml reads the CRDs in 1 s


def _where(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(the document)"


def check(document: Mapping[str, Any], source: str = "document") -> None:
    """Checks one document against its kind's schema.

    Args:
        document: A parsed Kubernetes object (apiVersion, kind, metadata, spec).
        source: Where it comes from, for the message (e.g. ``pipelines/rayjob.yaml``).

    Raises:
        SchemaError: It does not match, or no schema is known for its apiVersion and
            kind; the message names each field at fault.
    """
    import jsonschema
    from referencing import Registry, Resource

    key = (document.get("apiVersion"), document.get("kind"))
    if not all(isinstance(part, str) for part in key):
        raise SchemaError(f"{source}: a document without apiVersion and kind: {key}")
    metadata = document.get("metadata")
    label = metadata.get("name", "") if isinstance(metadata, Mapping) else ""
    name = f"{source}: {key[1]} {label}".rstrip()
    if key not in CRDS:
        _check_core(document, name)
        return
    definitions = _kubernetes_definitions()
    registry = Resource.from_contents(definitions) @ Registry()
    validator = jsonschema.Draft202012Validator(crd_schema(*key), registry=registry)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        faults = "\n".join(f"  {_where(e.absolute_path)}: {e.message}" for e in errors)
        raise SchemaError(f"{name} does not match its schema ({CRDS[key]}):\n{faults}")


def _check_core(document: Mapping[str, Any], name: str) -> None:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(dict(document), KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.utils.SchemaNotFoundError as error:
        raise SchemaError(f"{name}: no schema is known: {error.message}") from error
    except kubernetes_validate.ValidationError as error:
        raise SchemaError(
            f"{name} does not match Kubernetes {error.version} (strict):\n"
            f"  {_where(error.absolute_path)}: {error.message}"
        ) from error
