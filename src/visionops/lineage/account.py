"""One version's account for an auditor: data, validation, parameters, code, training,
metrics, blessing, registration, label moves and whether it is in production now.

:func:`account` gathers it as plain data (what ``--json`` prints); :func:`render_account`
words it. A field an older record lacks reads :data:`NOT_RECORDED`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visionops.errors import RegistryError
from visionops.lineage.record import (
    NOT_RECORDED,
    REGISTERING_STAGE,
    load_record,
    recorded_stages,
    standings,
)
from visionops.registry.events import REGISTERED, read_events
from visionops.registry.history import history
from visionops.registry.layout import PRODUCTION, read_labels, version_dir

_CODE = ("commit", "dirty", "branch", "changed_files")
_VALIDATION = ("success", "images", "evaluated", "failed", "quarantined", "drift_reference")
_TRAINING = (
    "weights_sha256",
    "epochs_run",
    "epochs_requested",
    "best_epoch",
    "seed",
    "deterministic",
    "devices",
    "strategy",
    "precision",
)


def account(root: Path, model: str, version: int) -> dict[str, Any]:
    """Everything known about how ``model`` version ``version`` was made and used.

    Raises:
        RegistryError: The record is damaged or the model's log cannot be read.
    """
    record = load_record(root, model, version)
    standing = standings(root, model).get(version)
    registered, moves = _events(root, model, version)
    blessing = record.get("blessing") if isinstance(record.get("blessing"), dict) else {}
    forced = blessing.get("forced") if isinstance(blessing.get("forced"), dict) else None
    return {
        "model": model,
        "version": version,
        "path": str(version_dir(root, model, version).resolve()),
        "record": "present" if record else NOT_RECORDED,
        "production": {
            "labels": list(standing.labels) if standing else [],
            "in_production": bool(standing and standing.in_production),
            "ever_production": bool(standing and standing.ever_production),
            "production_version": read_labels(root).get(model, {}).get(PRODUCTION),
            "summary": standing.describe() if standing else "never in production",
        },
        "data": _data(record),
        "stages": recorded_stages(record) or NOT_RECORDED,
        "validation": _pick(record.get("validation"), _VALIDATION),
        "parameters": _flatten(record["parameters"])
        if isinstance(record.get("parameters"), dict)
        else NOT_RECORDED,
        "code": _pick(record.get("code"), _CODE),
        "training": _pick(record.get("training"), _TRAINING),
        "metrics": record.get("metrics") or NOT_RECORDED,
        "blessing": {
            "blessed": blessing.get("blessed", NOT_RECORDED),
            "reason": blessing.get("reason", NOT_RECORDED),
            "forced": bool(forced),
            "forced_by": forced.get("by", NOT_RECORDED) if forced else None,
            "forced_at": forced.get("at", NOT_RECORDED) if forced else None,
            "forced_reason": forced.get("reason", NOT_RECORDED) if forced else None,
        },
        "registered": {
            "by": record.get("registered_by", NOT_RECORDED),
            "at": record.get("registered_at", NOT_RECORDED),
            "event": registered,
        },
        "label_moves": moves,
        "class_names": record.get("class_names", NOT_RECORDED),
        "image_shape": record.get("image_shape", NOT_RECORDED),
        "versions": record.get("versions", NOT_RECORDED),
    }


def _events(root: Path, model: str, version: int) -> tuple[dict[str, Any] | str, list]:
    """The version's ``registered`` event and every label move onto it, from the log."""
    try:
        events = read_events(root, model)
        moves = next((h.promotions for h in history(root, model) if h.version == version), [])
    except RegistryError as error:
        return f"audit log unreadable: {error}", []
    registered = next(
        (e for e in events if e.get("event") == REGISTERED and e.get("version") == version), None
    )
    if registered is None:
        return NOT_RECORDED, moves
    return {key: registered.get(key) for key in ("seq", "time", "actor", "reason")}, moves


def _data(record: dict[str, Any]) -> dict[str, Any]:
    """The data source (ingestion parameters) and the hash of every dataset made from it."""
    parameters = record.get("parameters")
    ingestion = parameters.get("ingestion") if isinstance(parameters, dict) else None
    ingestion = ingestion if isinstance(ingestion, dict) else {}
    stages = recorded_stages(record)
    first = stages.get("ingestion", {})
    source_path = ingestion.get("path", NOT_RECORDED)
    described = record.get("data_source")
    return {
        "source": ingestion.get("source", NOT_RECORDED),
        "path": source_path,
        # Each source ingested, with the production feedback (segments, labels and
        # senders) where a feedback export was one of them.
        "sources": _source_list(described),
        "input_md5": (first.get("deps") or {}).get(source_path, NOT_RECORDED),
        "datasets": [
            {"stage": stage, "path": path, "md5": md5}
            for stage, entry in stages.items()
            if stage != REGISTERING_STAGE
            for path, md5 in (entry.get("outs") or {}).items()
        ],
    }


def _pick(section: object, keys: tuple[str, ...]) -> dict[str, Any] | str:
    if not isinstance(section, dict):
        return NOT_RECORDED
    return {key: section.get(key, NOT_RECORDED) for key in keys}


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        flat |= _flatten(item, name) if isinstance(item, dict) else {name: item}
    return flat


def render_account(info: dict[str, Any]) -> str:
    """The account in words, one section per question an auditor asks."""
    standing, data, code = info["production"], info["data"], info["code"]
    tags = f"  [{', '.join(standing['labels'])}]" if standing["labels"] else ""
    lines = [f"{info['model']}:{info['version']}{tags}  {standing['summary']}"]
    lines.append(f"  path         {info['path']}")
    if info["record"] == NOT_RECORDED:
        lines.append("  lineage      not recorded (no assets.extra/lineage.json)")
    lines += ["Data", f"  source       {data['source']} (path {data['path']})"]
    lines.append(f"  input md5    {data['input_md5']}")
    lines += _sources(data["sources"])
    lines += [f"  {d['stage']:<16} {d['path']}  md5 {d['md5']}" for d in data["datasets"]]
    if not data["datasets"]:
        lines.append(f"  datasets     {NOT_RECORDED}")
    lines += ["Validation", *_rows(info["validation"])]
    lines += ["Parameters", *_rows(info["parameters"], width=44)]
    lines.append("Code")
    if isinstance(code, dict):
        dirty = {True: "dirty", False: "clean"}.get(code["dirty"], f"dirty: {code['dirty']}")
        changed = code["changed_files"]
        lines.append(f"  commit       {code['commit']} on {code['branch']}, {dirty}")
        if isinstance(changed, list) and changed:
            lines.append(f"  changed      {', '.join(changed)}")
    else:
        lines.append(f"  commit       {code}")
    lines += ["Training", *_rows(info["training"], width=16)]
    lines += ["Metrics", *_rows(_scalars(info["metrics"]), width=28)]
    blessing = info["blessing"]
    verdict = {True: "blessed", False: "NOT blessed"}.get(blessing["blessed"], NOT_RECORDED)
    lines += ["Blessing", f"  verdict      {verdict}", f"  reason       {blessing['reason']}"]
    if blessing["forced"]:
        lines.append(
            f"  forced by    {blessing['forced_by']} at {blessing['forced_at']}: "
            f"{blessing['forced_reason']}"
        )
    else:
        lines.append("  forced       no")
    lines += _registration(info)
    production = standing["production_version"]
    lines += [
        "Production",
        f"  now          {'yes' if standing['in_production'] else 'no'} "
        f"(production is version {production if production is not None else 'none'})",
        f"  ever         {'yes' if standing['ever_production'] else 'no'}",
    ]
    return "\n".join(lines)


def _source_list(described: object) -> list[dict[str, Any]] | str:
    """The sources a record's ``data_source`` names: its ``sources`` (several sources),
    else itself (one); not recorded before records had it."""
    if not isinstance(described, dict):
        return NOT_RECORDED
    if isinstance(described.get("sources"), list):
        return described["sources"]
    return [described] if described.get("source") else NOT_RECORDED


def _sources(sources: object) -> list[str]:
    """A line per source ingested, and what a feedback source learned from."""
    if not isinstance(sources, list) or len(sources) < 2 and not _feedback(sources):
        return []  # one source without feedback: the line above says it all
    lines = []
    for entry in sources:
        where = f" {entry['path']}" if entry.get("path") else ""
        lines.append(f"  - {entry.get('source')}{where}: {entry.get('images', '?')} images")
        feedback = entry.get("feedback")
        if isinstance(feedback, dict):
            segments = [segment.get("name") for segment in feedback.get("segments") or []]
            senders = ", ".join(
                f"{name} ({count})" for name, count in feedback.get("senders", {}).items()
            )
            lines.append(
                f"      feedback of {feedback.get('model')}: {feedback.get('images')} labelled "
                f"images from {len(segments)} log segment(s), sent by {senders or 'nobody'}"
            )
            lines += [f"      segment {name}" for name in segments]
    return lines


def _feedback(sources: list[Any]) -> bool:
    return any(isinstance(entry, dict) and entry.get("feedback") for entry in sources)


def _registration(info: dict[str, Any]) -> list[str]:
    registered = info["registered"]
    event = registered["event"]
    recorded = (
        NOT_RECORDED
        if registered["at"] == registered["by"] == NOT_RECORDED
        else f"{registered['at']} by {registered['by']}"
    )
    lines = ["Registration", f"  recorded     {recorded}"]
    if isinstance(event, dict):
        lines.append(f"  event        #{event['seq']} {event['time']} by {event['actor']}")
    else:
        lines.append(f"  event        {event}")
    for move in info["label_moves"]:
        previous = "-" if move.get("from") is None else move.get("from")
        reason = f" -- {move['reason']}" if move.get("reason") else ""
        lines.append(
            f"  {move.get('event'):<12} #{move.get('seq')} {move.get('time')} by "
            f"{move.get('actor')}: {move.get('label')} {previous} -> {info['version']}{reason}"
        )
    if not info["label_moves"]:
        lines.append("  label moves  none")
    return lines


def _scalars(metrics: object) -> dict[str, Any] | str:
    if not isinstance(metrics, dict):
        return NOT_RECORDED
    return {key: value for key, value in sorted(metrics.items()) if not isinstance(value, dict)}


def _rows(section: object, width: int = 12) -> list[str]:
    if not isinstance(section, dict):
        return [f"  {section}"]
    return [f"  {key:<{width}} {_value(value)}" for key, value in section.items()]


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(map(str, value)) if value else "none"
    return str(value)
