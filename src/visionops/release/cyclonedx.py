"""The model card as a CycloneDX 1.6 ML-BOM (``model_card.cdx.json``).

One ``machine-learning-model`` component whose ``modelCard`` holds the model parameters
(task, architecture, the training data, inputs and outputs), the quantitative analysis
(every metric of the evaluation, overall and per class, as recorded, so they equal
``metrics.json``) and the considerations from conf/base/release_card.yml. CycloneDX
writes metric values as strings; they are Python's shortest exact text of each float,
so ``float(value)`` gives back the recorded number.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from visionops import __version__
from visionops.release.card_sections import show
from visionops.release.sbom import SPEC_VERSION

FAMILIES = {"simple_cnn": "convolutional neural network", "resnet_small": "residual neural network"}
PER_CLASS_METRICS = ("precision", "recall", "f1")


def _number(value: Any) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _metrics(card: Mapping[str, Any]) -> list[dict[str, str]]:
    metrics = card["metrics"]
    found = [
        {"type": key, "value": _number(value)}
        for key, value in metrics["overall"].items()
        if isinstance(value, int | float)
    ]
    for row in metrics["per_class"]:
        found += [
            {"type": key, "value": _number(row[key]), "slice": f"class={row['class']}"}
            for key in PER_CLASS_METRICS
            if isinstance(row.get(key), int | float)
        ]
    return found


def _considerations(card: Mapping[str, Any]) -> dict[str, Any]:
    text = card["considerations"]
    fields = {
        "users": text["intended_users"],
        "useCases": text["use_cases"] + [f"Out of scope: {item}" for item in text["out_of_scope"]],
        "technicalLimitations": text["limitations"],
        "performanceTradeoffs": text["tradeoffs"],
        "ethicalConsiderations": [
            {"name": risk, **({"mitigationStrategy": how} if how else {})}
            for risk, how in text["ethical_considerations"]
        ],
    }
    return {key: value for key, value in fields.items() if value}


def _dataset(card: Mapping[str, Any]) -> dict[str, Any]:
    data = card["data"]
    properties = [
        {"name": "visionops:images", "value": str(data["images"])},
        {"name": "visionops:test_images", "value": str(data["test_images"])},
        {"name": "visionops:validation_success", "value": str(data["validation"].get("success"))},
    ]
    properties += [
        {"name": f"visionops:class_count:{row['class']}", "value": str(row["count"])}
        for row in data["class_balance"]
    ]
    return {
        "type": "dataset",
        "name": f"training data: {show(data['sources'])}",
        "contents": {"properties": properties},
    }


def _parameters(card: Mapping[str, Any]) -> dict[str, Any]:
    architecture = card["training"]["architecture"]
    shape = "x".join(str(side) for side in card["image_shape"]) or "unknown shape"
    parameters: dict[str, Any] = {
        "approach": {"type": "supervised"},
        "task": "image classification",
        "datasets": [_dataset(card)],
        "inputs": [{"format": f"image {shape} (uint8 pixels, or PNG/JPEG bytes)"}],
        "outputs": [{"format": f"probabilities of {len(card['class_names'])} classes"}],
    }
    if architecture:
        parameters["modelArchitecture"] = str(architecture)
        if architecture in FAMILIES:
            parameters["architectureFamily"] = FAMILIES[architecture]
    return parameters


def _properties(card: Mapping[str, Any]) -> list[dict[str, str]]:
    blessing = card["blessing"]
    found = [
        {"name": "visionops:blessed", "value": str(blessing["blessed"])},
        {"name": "visionops:blessing_reason", "value": blessing["reason"]},
        {"name": "visionops:production_comparison", "value": card["production"]["summary"]},
        {"name": "visionops:commit", "value": str(card["code"].get("commit"))},
    ]
    found += [
        {"name": "visionops:approval", "value": f"{a['time']} {a['actor']}: {a['reason']}"}
        for a in card["approvals"]
    ]
    if card["signing"].get("public_key_sha256"):
        found.append(
            {"name": "visionops:signing_key_sha256", "value": card["signing"]["public_key_sha256"]}
        )
    return found


def _timestamp(text: Any) -> str | None:
    try:
        return datetime.fromisoformat(str(text)).isoformat()
    except ValueError:
        return None


def card_bom(card: Mapping[str, Any]) -> dict[str, Any]:
    """The card as a CycloneDX 1.6 JSON document (a dict ready for ``json.dumps``)."""
    reference = f"model:{card['model']}@{card['version']}"
    weights = card["training"]["weights_sha256"]
    component: dict[str, Any] = {
        "type": "machine-learning-model",
        "bom-ref": reference,
        "name": card["model"],
        "version": str(card["version"]),
        "description": f"{card['model']} version {card['version']}, an image classifier",
    }
    if weights:
        # The sha256 of the weights, as training computed it (not of a file).
        component["properties"] = [{"name": "visionops:weights_sha256", "value": weights}]
    component["properties"] = component.get("properties", []) + _properties(card)
    component["modelCard"] = {
        "modelParameters": _parameters(card),
        "quantitativeAnalysis": {"performanceMetrics": _metrics(card)},
        "considerations": _considerations(card),
    }
    metadata: dict[str, Any] = {
        "tools": {
            "components": [{"type": "application", "name": "visionops", "version": __version__}]
        },
    }
    timestamp = _timestamp(card["registered_at"])
    if timestamp:
        metadata["timestamp"] = timestamp
    seed = f"visionops-card:{card['model']}:{card['version']}:{weights}"
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": uuid.uuid5(uuid.NAMESPACE_URL, seed).urn,
        "version": 1,
        "metadata": metadata,
        "components": [component],
    }
