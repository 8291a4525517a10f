"""``visionops models``: list, show, promote, approve, rollback, events, tfserving-config.

:func:`add_models_parser` adds the ``models`` command to the top-level parser and
returns its actions, so that other packages can add theirs::

    actions = add_models_parser(commands)
    card = actions.add_parser("card", parents=[model_options()], help="...")
    card.add_argument("reference", metavar=REFERENCE)
    card.set_defaults(handler=card_command)   # handler(args) -> exit status

:func:`model_options` gives every action ``--registry``, ``--project-dir`` and
``--json``; ``args.registry`` is filled in from the project's ``registry_root`` before
the handler runs (:func:`resolve_registry`). A handler parses its reference with
:mod:`visionops.registry.reference` and raises a ``VisionOpsError`` for a user's
mistake; the command line prints it on one line and exits 1.
"""

from __future__ import annotations

import argparse
import functools
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from visionops.config import registry_root
from visionops.errors import RegistryError
from visionops.registry.approvals import approve
from visionops.registry.events import read_events, verify_chain
from visionops.registry.history import approvers, describe_version, history, require_model
from visionops.registry.labels import LabelMove, promote, rollback
from visionops.registry.layout import PRODUCTION, snapshot
from visionops.registry.reference import resolve_reference, resolve_version
from visionops.registry.release_settings import load_approval_rule
from visionops.registry.rollout import (
    CANARY,
    SHADOW,
    finish_rollout,
    parse_share,
    read_rollout,
    start_rollout,
    stop_rollout,
)

REFERENCE = "MODEL[:VERSION|@LABEL]"
VERSION_REFERENCE = "MODEL:VERSION|MODEL@LABEL"


@functools.cache
def registry_options() -> argparse.ArgumentParser:
    """The parent parser of ``--registry`` and ``--project-dir``, for every command that
    reads the registry (``parents=[registry_options()]``)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--registry",
        help="registry root folder (default: registry_root in the project's params.yaml)",
    )
    options.add_argument("--project-dir", default=".", help="the project folder (default: .)")
    return options


@functools.cache
def model_options() -> argparse.ArgumentParser:
    """The parent parser of every ``models`` action: :func:`registry_options` and ``--json``."""
    options = argparse.ArgumentParser(add_help=False, parents=[registry_options()])
    options.add_argument("--json", action="store_true", help="print JSON for machines")
    return options


def resolve_registry(args: argparse.Namespace) -> None:
    """Fills in ``args.registry`` from the project's configuration when not given."""
    if getattr(args, "registry", "") is None:
        args.registry = str(registry_root(Path(args.project_dir)))


def add_models_parser(commands: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Adds ``visionops models`` and its actions to ``commands``.

    Returns:
        The actions' subparsers: ``add_parser(name, parents=[model_options()], ...)``
        adds one more (see the module's docstring).
    """
    models = commands.add_parser(
        "models", help="inspect the model registry, move its labels, audit its log"
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    options = [model_options()]
    listing = actions.add_parser(
        "list", parents=options, help="list registered versions and their labels"
    )
    listing.set_defaults(handler=_models_list)
    showing = actions.add_parser(
        "show",
        parents=options,
        help="a version's folder, labels, lineage and events; or a model's history",
    )
    showing.add_argument("reference", metavar=REFERENCE)
    showing.set_defaults(handler=_models_show)
    promoting = actions.add_parser("promote", parents=options, help="point a label at a version")
    promoting.add_argument("reference", metavar=VERSION_REFERENCE)
    promoting.set_defaults(handler=_models_promote)
    rolling_back = actions.add_parser(
        "rollback", parents=options, help="point a label back at the version it pointed at before"
    )
    rolling_back.add_argument("model", metavar="MODEL")
    rolling_back.set_defaults(handler=_models_rollback)
    promoting.add_argument(
        "--label",
        "--to",
        dest="label",
        default=PRODUCTION,
        help="the label to move (default: production, which needs the approvals that "
        "approvals.required in conf/base/release.yml asks for)",
    )
    rolling_back.add_argument("--label", default=PRODUCTION, help="default: production")
    approving = actions.add_parser(
        "approve",
        parents=options,
        help="approve a version for production, in the audit log",
        description=(
            "Logs an 'approval' event of the version in the model's audit log. Promoting "
            "a version to production needs approvals from approvals.required distinct "
            "people (conf/base/release.yml); one person approving twice counts once."
        ),
    )
    approving.add_argument("reference", metavar=VERSION_REFERENCE)
    approving.add_argument(
        "--actor", help="who approves (default: $VISIONOPS_ACTOR, else the OS user)"
    )
    approving.set_defaults(handler=_models_approve)
    for moving in (promoting, rolling_back, approving):
        moving.add_argument("--reason", required=True, help="why, for the audit log")
    event_log = actions.add_parser("events", parents=options, help="print a model's audit log")
    event_log.add_argument("model", metavar="MODEL")
    event_log.add_argument(
        "--verify", action="store_true", help="check the hash chain; exit 1 naming each problem"
    )
    event_log.set_defaults(handler=_models_events)
    tfserving = actions.add_parser(
        "tfserving-config",
        parents=options,
        help="models.config with absolute paths, for TensorFlow Serving (which needs them)",
    )
    tfserving.add_argument(
        "--mount", required=True, help="where TensorFlow Serving sees the registry, e.g. /models"
    )
    tfserving.add_argument("--output", help="write here instead of printing")
    tfserving.set_defaults(handler=_models_tfserving_config)
    _add_rollout_parser(actions)
    return actions


def _models_list(args: argparse.Namespace) -> int:
    models = snapshot(Path(args.registry))
    if args.json:
        print(json.dumps(models, indent=2, sort_keys=True))
        return 0
    if not models:
        print(f"no models registered in {args.registry}")
        return 0
    for name, entry in models.items():
        labels = {version: [] for version in entry["versions"]}
        for label, version in entry["labels"].items():
            labels.setdefault(version, []).append(label)
        for version in entry["versions"]:
            tags = f"  [{', '.join(sorted(labels[version]))}]" if labels[version] else ""
            print(f"{name}:{version}{tags}")
    return 0


def _move(previous: int | None, new: int | None) -> str:
    return f"{'-' if previous is None else previous} -> {new}"


def _describe_event(event: dict[str, Any]) -> str:
    details = event.get("details") or {}
    if event.get("event") == "registered":
        moves = details.get("labels_moved") or {}
        what = ", ".join(f"{k}: {_move(v.get('from'), v.get('to'))}" for k, v in moves.items())
    elif "label" in details:
        what = f"{details['label']}: {_move(details.get('from'), details.get('to'))}"
        if details.get("approved_by"):
            what += f" (approved by {', '.join(details['approved_by'])})"
    else:
        what = json.dumps(details, sort_keys=True) if details else ""
    reason = f" -- {event['reason']}" if event.get("reason") else ""
    return (
        f"#{event.get('seq')} {event.get('time')} {event.get('event')} "
        f"v{event.get('version')} by {event.get('actor')}{f'  {what}' if what else ''}{reason}"
    )


def _models_show(args: argparse.Namespace) -> int:
    root = Path(args.registry)
    model, version = resolve_reference(root, args.reference)
    if version is None:
        _print_history(model, [asdict(entry) for entry in history(root, model)], args.json)
        return 0
    info = describe_version(root, model, version)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    registered, content = info["registered"], info["content"]
    intact = {True: "unchanged since registration", False: "CHANGED since registration"}
    rows = {
        "path": info["path"],
        "size": f"{info['size_bytes'] / 1024:.1f} KiB in {info['files']} files",
        "registered": (
            f"{registered['time']} by {registered['actor']}  {registered['reason']}".rstrip()
            if registered
            else None
        ),
        "content": f"{intact.get(content['intact'], 'no digest logged')} "
        f"(sha256 {content['current_sha256'][:16]})",
        "blessing": _describe_blessing(info["lineage"].get("blessing")),
        "approvals": f"{len(info['approvals'])}: {', '.join(info['approvals'])}"
        if info["approvals"]
        else None,
        **_describe_lineage(info["lineage"]),
        "metrics": ", ".join(
            f"{k}={v:.4g}"
            for k, v in sorted((info["lineage"].get("metrics") or {}).items())
            if isinstance(v, int | float)
        ),
    }
    tags = f"  [{', '.join(info['labels'])}]" if info["labels"] else ""
    print(f"{model}:{version}{tags}")
    for key, value in rows.items():
        if value:
            print(f"  {key:<11} {value}")
    print("  events")
    for event in info["events"]:
        print(f"    {_describe_event(event)}")
    return 0


def _describe_blessing(blessing: object) -> str | None:
    if not isinstance(blessing, dict):
        return None
    verdict = "blessed" if blessing.get("blessed") else "NOT blessed"
    reason = str(blessing.get("reason") or "no reason recorded")
    # The evaluation writes its reason with the verdict in front; say it once.
    for prefix in ("blessed: ", "not blessed: ", "NOT blessed: "):
        reason = reason.removeprefix(prefix)
    return f"{verdict}: {reason}"


def _describe_lineage(lineage: dict[str, Any]) -> dict[str, str | None]:
    """The lineage summary's rows: code, data, validation, task, weights."""
    if "error" in lineage:
        return {"lineage": lineage["error"]}
    if not lineage:
        return {"lineage": "no lineage.json recorded"}
    code = lineage.get("code") or {}
    source = lineage.get("source") or {}
    validation = lineage.get("validation") or {}
    described_source = source.get("source")
    if described_source and described_source != "digits" and source.get("path"):
        described_source = f"{described_source} {source['path']}"
    checks = (
        f"{'passed' if validation.get('success') else 'FAILED'} "
        f"{validation.get('evaluated')} expectations on {validation.get('images')} images"
        if validation
        else None
    )
    shape = lineage.get("image_shape")
    classes = lineage.get("class_names") or []
    return {
        "code": (
            f"commit {str(code.get('commit'))[:12]}{' (dirty tree)' if code.get('dirty') else ''}"
            if code
            else None
        ),
        "data": described_source,
        "validation": checks,
        "task": f"{len(classes)} classes, images {'x'.join(map(str, shape))}" if shape else None,
        "weights": f"sha256 {str(lineage['weights_sha256'])[:16]}"
        if lineage.get("weights_sha256")
        else None,
    }


def _print_history(model: str, versions: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"model": model, "versions": versions}, indent=2, sort_keys=True))
        return
    for entry in versions:
        notes = []
        if entry["registered_at"]:
            notes.append(f"registered {entry['registered_at']} by {entry['registered_by']}")
        else:
            notes.append("no registered event")
        if entry["ever_production"] and PRODUCTION not in entry["labels"]:
            notes.append("was production")
        if entry["promotions"]:
            notes.append(f"{len(entry['promotions'])} label moves")
        if entry["approvals"]:
            notes.append(f"approved by {', '.join(entry['approvals'])}")
        if not entry["exists"]:
            notes.append("deleted")
        tags = f"  [{', '.join(entry['labels'])}]" if entry["labels"] else ""
        print(f"{model}:{entry['version']}{tags}  " + "; ".join(notes))


def _print_move(move: LabelMove, as_json: bool, verb: str) -> int:
    if as_json:
        print(json.dumps(asdict(move), indent=2, sort_keys=True))
    elif move.event is None:
        print(f"{move.model}: {move.label} already points at {move.to_version}; nothing changed")
    else:
        print(f"{move.model}: {move.label} {verb} from {move.from_version} to {move.to_version}")
    return 0


def _models_promote(args: argparse.Namespace) -> int:
    root = Path(args.registry)
    model, version = resolve_version(root, args.reference, "promote")
    rule = load_approval_rule(Path(args.project_dir))
    move = promote(root, model, version, args.label, reason=args.reason, approvals=rule)
    ended = finish_rollout(root, model) if args.label == PRODUCTION else None
    if ended is not None and not args.json:
        print(f"{model}: rollout {ended['details']['rollout']} ended: {ended['event']}")
    return _print_move(move, args.json, "moved")


def _models_approve(args: argparse.Namespace) -> int:
    root = Path(args.registry)
    model, version = resolve_version(root, args.reference, "approve")
    event = approve(root, model, version, reason=args.reason, actor=args.actor)
    names = approvers(read_events(root, model), version)
    if args.json:
        print(json.dumps({"event": event, "approvals": names}, indent=2, sort_keys=True))
        return 0
    rule = load_approval_rule(Path(args.project_dir))
    print(
        f"{model}:{version} approved by {event['actor']}; approvals: {len(names)} "
        f"({', '.join(names)}), production needs {rule.required} ({rule.source})"
    )
    return 0


def _models_rollback(args: argparse.Namespace) -> int:
    move = rollback(Path(args.registry), args.model, args.reason, args.label)
    return _print_move(move, args.json, "rolled back")


def _models_tfserving_config(args: argparse.Namespace) -> int:
    from visionops.registry.layout import absolute_models_config

    try:
        text = absolute_models_config(Path(args.registry), args.mount)
    except ValueError as error:
        raise RegistryError(f"--mount {args.mount!r}: {error}") from error
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output} for TensorFlow Serving, the registry at {args.mount}")
    else:
        print(text, end="")
    return 0


def _models_events(args: argparse.Namespace) -> int:
    root = Path(args.registry)
    require_model(root, args.model)
    problems = verify_chain(root, args.model) if args.verify else []
    try:
        events = read_events(root, args.model)
    except RegistryError:
        if not problems:
            raise
        events = []  # the problems below say which lines could not be read
    if args.json:
        report = {"model": args.model, "events": events}
        if args.verify:
            report |= {"intact": not problems, "problems": problems}
        print(json.dumps(report, indent=2, sort_keys=True))
        return 1 if problems else 0
    for event in events:
        print(_describe_event(event))
    if problems:
        raise RegistryError(
            f"the events log of {args.model!r} failed verification "
            f"({len(problems)} problems):\n  " + "\n  ".join(problems)
        )
    if args.verify:
        last = events[-1]["hash"] if events else "none"
        print(f"chain intact: {len(events)} events, last hash {last}")
    return 0


def _add_rollout_parser(actions: argparse._SubParsersAction) -> None:
    """``visionops models rollout``: start, show or stop a canary or shadow rollout."""
    rolling_out = actions.add_parser(
        "rollout",
        parents=[model_options()],
        help="try a version beside production: a canary share of requests, or in shadow",
        description=(
            "Starts a canary (--canary 10%%: that share of production requests is answered "
            "by the version) or a shadow rollout (--shadow [SHARE]: production answers, "
            "the version is asked too and only compared) that 'visionops serve' picks up. "
            "Guards in conf/base/release_rollout.yml roll it back on a breach; 'visionops "
            "models promote MODEL:V' finishes it. MODEL alone shows the rollout in "
            "progress; --stop ends it."
        ),
    )
    rolling_out.add_argument("reference", metavar="MODEL[:VERSION|@LABEL]")
    mode = rolling_out.add_mutually_exclusive_group()
    mode.add_argument("--canary", metavar="SHARE", help="share of requests, e.g. 10%% or 0.1")
    mode.add_argument(
        "--shadow", metavar="SHARE", nargs="?", const="100%", help="share mirrored (default 100%%)"
    )
    mode.add_argument("--stop", action="store_true", help="end the rollout in progress")
    rolling_out.add_argument("--reason", default="", help="why, for the audit log")
    rolling_out.set_defaults(handler=_models_rollout)


def _models_rollout(args: argparse.Namespace) -> int:
    root = Path(args.registry)
    if args.canary is None and args.shadow is None:
        model, _ = resolve_reference(root, args.reference)
        if args.stop:
            event = stop_rollout(root, model, args.reason)
            print(json.dumps(event, indent=2) if args.json else f"{model}: rollout stopped")
            return 0
        rollout = read_rollout(root, model)
        if args.json:
            print(json.dumps(rollout and asdict(rollout), indent=2, sort_keys=True))
        else:
            print(f"{model}: {rollout.describe() if rollout else 'no rollout in progress'}")
        return 0
    model, version = resolve_version(root, args.reference, "roll out")
    mode, share = (CANARY, args.canary) if args.canary is not None else (SHADOW, args.shadow)
    rollout = start_rollout(root, model, version, mode, parse_share(share), reason=args.reason)
    if args.json:
        print(json.dumps(asdict(rollout), indent=2, sort_keys=True))
    else:
        print(f"{model}: started the {rollout.describe()} (rollout {rollout.id})")
    return 0
