"""The model card as titled sections of paragraphs, lists and tables.

One reading of the card data for both renderers, so the Markdown and the HTML card
always say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MISSING = "not recorded"


@dataclass(frozen=True)
class Table:
    """Rows of cells under a header."""

    header: tuple[str, ...]
    rows: list[tuple[str, ...]]


Block = str | list[str] | Table  # a paragraph, a bullet list, or a table


@dataclass(frozen=True)
class Section:
    """A titled part of the card."""

    title: str
    blocks: list[Block] = field(default_factory=list)


def show(value: Any) -> str:
    """A value as the card prints it: floats to 4 places, absent values said so."""
    if value is None or value in ("", [], {}):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list | tuple):
        return ", ".join(show(item) for item in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {show(item)}" for key, item in value.items())
    return str(value)


def _listed(items: Sequence[str], none: str) -> Block:
    return list(items) if items else none


def _intended_use(card: Mapping[str, Any]) -> Section:
    text = card["considerations"]
    return Section(
        "Intended use",
        [
            "Users:",
            _listed(text["intended_users"], "No intended users written in release_card.yml."),
            "Use cases:",
            _listed(text["use_cases"], "No use cases written in release_card.yml."),
            "Out of scope:",
            _listed(text["out_of_scope"], "Nothing written as out of scope."),
        ],
    )


def _limitations(card: Mapping[str, Any]) -> Section:
    text = card["considerations"]
    risks = [f"{risk} Mitigation: {how or MISSING}" for risk, how in text["ethical_considerations"]]
    return Section(
        "Limitations",
        [
            _listed(text["limitations"], "No limitations written in release_card.yml."),
            "Trade-offs:",
            _listed(text["tradeoffs"], "None written."),
            "Ethical considerations:",
            _listed(risks, "None written."),
        ],
    )


def _validation(validation: Mapping[str, Any]) -> str:
    if not validation:
        return "Validation: not recorded"
    verdict = {True: "passed", False: "failed"}.get(validation.get("success"), MISSING)
    return (
        f"Validation: {verdict} ({show(validation.get('evaluated'))} expectations evaluated, "
        f"{show(validation.get('failed'))} failed; {show(validation.get('quarantined'))} "
        f"images quarantined); drift reference: {show(validation.get('drift_reference'))}"
    )


def _data(card: Mapping[str, Any]) -> Section:
    data = card["data"]
    validation = data["validation"]
    blocks: list[Block] = [
        [
            f"Sources: {show(data['sources'])}",
            f"Images validated: {show(data['images'])}; test images: {show(data['test_images'])}",
            _validation(validation),
            f"Classes: {show(card['class_names'])}; image shape: {show(card['image_shape'])}",
        ]
    ]
    balance = data["class_balance"]
    if balance:
        rows = [(row["class"], str(row["count"]), f"{row['share']:.1%}") for row in balance]
        blocks += ["Class balance of the training data:", Table(("class", "images", "share"), rows)]
    else:
        blocks.append("Class balance: not recorded (no data profile with class counts).")
    return Section("Data", blocks)


def _scores_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    keys = ("precision", "recall", "f1", "support")
    return Table(
        ("class", *keys), [(row["class"], *(show(row.get(k)) for k in keys)) for row in rows]
    )


def _metrics(card: Mapping[str, Any]) -> Section:
    metrics = card["metrics"]
    overall = metrics["overall"]
    calibration = metrics["calibration"]
    blocks: list[Block] = [
        Table(("metric", "value"), [(key, show(value)) for key, value in overall.items()])
        if overall
        else "No metrics recorded.",
        f"Calibration: {show(calibration['expected_calibration_error'])}, {calibration['method']}."
        if calibration["expected_calibration_error"] is not None
        else f"Calibration: {calibration['method']}.",
    ]
    if metrics["worst_classes"]:
        blocks += ["Worst classes (lowest F1):", _scores_table(metrics["worst_classes"])]
    if metrics["per_class"]:
        blocks += ["Per class:", _scores_table(metrics["per_class"])]
    return Section("Evaluation", blocks)


def _decision(card: Mapping[str, Any]) -> Section:
    production, blessing = card["production"], card["blessing"]
    blocks: list[Block] = [f"Production comparison: {production['summary']}."]
    if production.get("rows"):
        rows = [
            (row["metric"], show(row["candidate"]), show(row["production"]))
            for row in production["rows"]
        ]
        blocks.append(Table(("metric", "this version", f"version {production['version']}"), rows))
    verdict = {True: "blessed", False: "not blessed"}.get(blessing["blessed"], MISSING)
    blocks.append(f"Blessing: {verdict}. {blessing['reason']}")
    checks = [
        f"{'passed' if check.get('passed') else 'failed'}: {check.get('reason', '')}"
        for check in blessing["checks"]
    ]
    if checks:
        blocks.append(checks)
    if blessing["forced"]:
        blocks.append(f"Forced: {show(blessing['forced'])}")
    return Section("Production comparison and blessing", blocks)


def _training(card: Mapping[str, Any]) -> Section:
    training, environment, code = card["training"], card["environment"], card["code"]
    dirty = " (with uncommitted changes)" if code.get("dirty") else ""
    return Section(
        "Training and environment",
        [
            [
                f"Code: commit {show(code.get('commit'))}{dirty}",
                f"Architecture: {show(training['architecture'])}; epochs run "
                f"{show(training['epochs_run'])} of {show(training['epochs_requested'])}, "
                f"best epoch {show(training['best_epoch'])}, seed {show(training['seed'])}, "
                f"deterministic {show(training['deterministic'])}",
                f"Weights sha256: {show(training['weights_sha256'])}",
                f"Python {show(environment['python'])}, TensorFlow "
                f"{show(environment['tensorflow'])}, Keras {show(environment['keras'])}, "
                f"NumPy {show(environment['numpy'])}, visionops {show(environment['visionops'])}",
                f"Devices: {show(environment['devices'])} ({show(environment['strategy'])} "
                f"strategy, {show(environment['precision'])} precision); platform "
                f"{show(environment['platform'])}",
            ]
        ],
    )


def _approvals(card: Mapping[str, Any]) -> Section:
    rows = [
        (show(a["time"]), show(a["actor"]), a["reason"] or MISSING, show(a["details"]))
        for a in card["approvals"]
    ]
    if not rows:
        return Section("Approvals", ["none yet"])
    return Section("Approvals", [Table(("time", "by", "reason", "details"), rows)])


def _provenance(card: Mapping[str, Any]) -> Section:
    signing, sbom = card["signing"], card["sbom"]
    signed = (
        f"Signed with key {signing['public_key_sha256']} ({signing.get('method', MISSING)}); "
        f"the signature is {signing.get('signature')}, the public key "
        f"{signing.get('public_key')}. Check it with `visionops lineage verify "
        f"{card['model']}:{card['version']}`."
        if signing.get("public_key_sha256")
        else "Not signed."
    )
    listed = (
        f"SBOM: {sbom.get('file')}, {sbom.get('components')} components from "
        f"{sbom.get('source')} (sha256 {show(sbom.get('lock_sha256'))})."
        if sbom.get("file")
        else "SBOM: none."
    )
    return Section("Signature and software bill of materials", [signed, listed])


def card_sections(card: Mapping[str, Any]) -> list[Section]:
    """The card's sections, in reading order."""
    return [
        _intended_use(card),
        _limitations(card),
        _data(card),
        _metrics(card),
        _decision(card),
        _training(card),
        _approvals(card),
        _provenance(card),
    ]


def card_title(card: Mapping[str, Any]) -> str:
    """``Model card: digits version 3``."""
    return f"Model card: {card['model']} version {card['version']}"


def card_subtitle(card: Mapping[str, Any]) -> str:
    """Who registered the version, when, and its labels when the card was written."""
    labels = ", ".join(card["labels"]) or "none"
    return (
        f"Registered by {show(card['registered_by'])} at {show(card['registered_at'])}; "
        f"labels when this card was written: {labels}."
    )
