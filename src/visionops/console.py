"""The ``visionops`` command line. User errors print one line and exit 1, no traceback.

Named console.py, not cli.py: Kedro loads ``<package>/cli.py`` as a plugin for its own CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from visionops import __version__
from visionops.config import registry_root
from visionops.errors import RegistryError, VisionOpsError
from visionops.registry.events import read_events, verify_chain
from visionops.registry.layout import PRODUCTION, snapshot
from visionops.registry.promotion import (
    LabelMove,
    describe_version,
    history,
    promote,
    require_model,
    resolve_label,
    rollback,
)


def _add_registry_options(action: argparse.ArgumentParser) -> None:
    """``--registry`` and ``--project-dir``: the registry is the project's by default."""
    action.add_argument(
        "--registry",
        help="registry root folder (default: registry_root in the project's params.yaml)",
    )
    action.add_argument("--project-dir", default=".", help="the project folder (default: .)")


def _resolve_registry(args: argparse.Namespace) -> None:
    """Fills in ``args.registry`` from the project's configuration when not given."""
    if getattr(args, "registry", "") is None:
        args.registry = str(registry_root(Path(args.project_dir)))


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


def _resolve_reference(root: Path, reference: str) -> tuple[str, int | None]:
    """The model and version named by ``MODEL``, ``MODEL:VERSION`` or ``MODEL@LABEL``."""
    model, at, label = reference.rpartition("@")
    if at:
        return model, resolve_label(root, model, label)
    model, colon, version = reference.rpartition(":")
    if not colon:
        require_model(root, reference)
        return reference, None
    if not version.isdigit():
        raise RegistryError(f"{reference!r}: put a version number after ':', e.g. {model}:3")
    return model, int(version)


def _move(previous: int | None, new: int | None) -> str:
    return f"{'-' if previous is None else previous} -> {new}"


def _describe_event(event: dict[str, Any]) -> str:
    details = event.get("details") or {}
    if event.get("event") == "registered":
        moves = details.get("labels_moved") or {}
        what = ", ".join(f"{k}: {_move(v.get('from'), v.get('to'))}" for k, v in moves.items())
    elif "label" in details:
        what = f"{details['label']}: {_move(details.get('from'), details.get('to'))}"
    else:
        what = json.dumps(details, sort_keys=True) if details else ""
    reason = f" -- {event['reason']}" if event.get("reason") else ""
    return (
        f"#{event.get('seq')} {event.get('time')} {event.get('event')} "
        f"v{event.get('version')} by {event.get('actor')}  {what}{reason}"
    )


def _models_show(args: argparse.Namespace) -> int:
    root = Path(args.registry)
    model, version = _resolve_reference(root, args.reference)
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
    model, version = _resolve_reference(root, args.reference)
    if version is None:
        raise RegistryError(f"say which version to promote: {model}:VERSION or {model}@LABEL")
    move = promote(root, model, version, args.label, reason=args.reason)
    return _print_move(move, args.json, "moved")


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


def _validate(args: argparse.Namespace) -> int:
    from visionops.validation.command import validate_command

    return validate_command(
        project_dir=Path(args.project_dir),
        source=args.source,
        path=args.path,
        init_suite=args.init_suite,
        force=args.force,
        as_json=args.json,
    )


def _serve(args: argparse.Namespace) -> int:
    from visionops.serving.options import ServeOptions

    options = ServeOptions(  # checked before TensorFlow is imported, so errors come fast
        registry=Path(args.registry),
        host=args.host,
        port=args.port,
        grpc_port=args.grpc_port,
        max_batch_size=1 if args.no_batching else args.max_batch_size,
        batch_timeout_ms=args.batch_timeout_ms,
        max_body_mb=args.max_body_mb,
        max_inflight_mb=args.max_inflight_mb,
        max_image_pixels=args.max_image_pixels,
        poll_seconds=args.poll_seconds,
        intra_op_threads=args.intra_op_threads,
        inter_op_threads=args.inter_op_threads,
        project_dir=Path(args.project_dir),
        prediction_log=Path(args.prediction_log) if args.prediction_log else None,
        log_predictions=not args.no_prediction_log,
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # read when TensorFlow loads
    from visionops.serving.server import run_server

    run_server(options)
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from visionops.scheduling.command import schedule_command

    return schedule_command(
        Path(args.project_dir), cron=args.cron, log=args.log, once=args.once, wait=args.wait
    )


def _add_schedule_parser(commands: argparse._SubParsersAction) -> None:
    """Adds ``visionops schedule`` (its logic lives in visionops.scheduling)."""
    schedule = commands.add_parser(
        "schedule",
        help="retrain on a cron when new data, drift or the model's age asks for it",
        description=(
            "Runs in the foreground until SIGTERM or Ctrl-C. On each cron tick it checks "
            "the triggers of conf/base/scheduling.yml (schedule, new data, drift, model "
            "age), logs one JSON line per check and decision, and when one fires runs "
            "'dvc repro' under a lock that keeps two runs of the project apart. A run in "
            "progress finishes before the scheduler stops; a second signal interrupts it."
        ),
    )
    schedule.add_argument("--project-dir", default=".", help="the project folder (default: .)")
    schedule.add_argument(
        "--cron",
        help="when to check: 5 crontab fields, e.g. '0 3 * * *', or 6 with seconds first, "
        "e.g. '*/10 * * * * *' for every 10 s (default: cron in scheduling.yml)",
    )
    schedule.add_argument(
        "--log",
        help="the JSONL run log, relative to the project folder "
        "(default: log in scheduling.yml, data/08_reporting/schedule.jsonl)",
    )
    schedule.add_argument(
        "--once",
        action="store_true",
        help="check once (and retrain if a trigger fires), then exit: 0, or 1 if the "
        "retrain failed; for cron or a Kubernetes CronJob",
    )
    schedule.add_argument(
        "--wait",
        action="store_true",
        help="when another run holds the project's lock, wait for it and check again "
        "(default: skip this tick)",
    )
    schedule.set_defaults(handler=_schedule)


def _monitor(args: argparse.Namespace) -> int:
    from visionops.monitoring.command import monitor_command

    return monitor_command(
        Path(args.project_dir),
        Path(args.registry),
        args.model,
        args.since,
        args.json,
        Path(args.report) if args.report else None,
    )


def _feedback(args: argparse.Namespace) -> int:
    from visionops.monitoring import command

    project = Path(args.project_dir)
    if args.feedback_command == "import":
        registry = Path(args.registry)
        return command.feedback_import_command(project, registry, args.model, Path(args.file))
    if args.feedback_command == "export":
        return command.feedback_export_command(project, args.model, Path(args.to))
    return command.feedback_purge_command(project, args.older_than)


def _add_monitoring_parsers(commands: argparse._SubParsersAction) -> None:
    """Adds ``visionops monitor`` and ``visionops feedback`` (logic in visionops.monitoring)."""
    monitor = commands.add_parser(
        "monitor",
        help="live drift, predicted classes, confidence and accuracy of the production model",
        description=(
            "Compares the prediction log of `visionops serve` over a window with the "
            "production version's training data (intensity per channel, image sizes) and "
            "test split (predicted class shares), and gives the mean confidence and the "
            "accuracy on feedback labels; thresholds in conf/base/monitoring.yml. Writes "
            "PNG plots and an HTML page to data/08_reporting/monitoring/."
        ),
    )
    _add_registry_options(monitor)
    monitor.add_argument("--model", help="default: model_name in params.yaml")
    monitor.add_argument(
        "--since", help="window start: 5m, 2h, 1d or an ISO time (default: monitor.since)"
    )
    monitor.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object; its 'alerts' lists the "
        "checks past their threshold (empty when none)",
    )
    monitor.add_argument("--report", help="report folder (default: data/08_reporting/monitoring)")
    monitor.set_defaults(handler=_monitor)
    feedback = commands.add_parser("feedback", help="feedback labels: import, export, purge")
    actions = feedback.add_subparsers(dest="feedback_command", metavar="ACTION", required=True)
    importing = actions.add_parser(
        "import",
        help="record labels from a CSV file: request_id, label[, instance] (one row per image)",
    )
    importing.add_argument("file", help="the CSV file")
    exporting = actions.add_parser(
        "export", help="write the labelled production images as an image folder"
    )
    exporting.add_argument("--to", required=True, help="the image folder to (re)write")
    purging = actions.add_parser(
        "purge", help="remove predictions and labels past retention.days (monitoring.yml)"
    )
    purging.add_argument("--older-than", help="instead of retention.days: 12h, 30d or an ISO time")
    for action in (importing, exporting, purging):
        _add_registry_options(action)
        if action is not purging:
            action.add_argument("--model", help="default: model_name in params.yaml")
    feedback.set_defaults(handler=_feedback)


def _lineage_show(args: argparse.Namespace) -> int:
    from visionops.lineage.commands import show_command

    return show_command(Path(args.registry), args.reference, "json" if args.json else args.format)


def _lineage_trace(args: argparse.Namespace) -> int:
    from visionops.lineage.commands import trace_command

    return trace_command(Path(args.registry), args.query, Path(args.project_dir), args.json)


def _lineage_verify(args: argparse.Namespace) -> int:
    from visionops.lineage.commands import verify_command

    if (args.reference is None) == (not args.all):
        raise VisionOpsError("say what to verify: MODEL, MODEL:VERSION or --all (one of them)")
    return verify_command(Path(args.registry), args.reference, Path(args.project_dir), args.json)


def _reproduce(args: argparse.Namespace) -> int:
    from visionops.lineage.commands import reproduce_command

    return reproduce_command(
        Path(args.registry),
        args.reference,
        Path(args.project_dir),
        keep=args.keep,
        allow_dirty=args.allow_dirty,
        until=args.until,
        as_json=args.json,
    )


def _add_lineage_parsers(commands: argparse._SubParsersAction) -> None:
    """Adds ``visionops lineage show|trace|verify`` and ``visionops reproduce``."""
    lineage = commands.add_parser(
        "lineage", help="audit where a model came from, what data made what, and proof"
    )
    actions = lineage.add_subparsers(dest="lineage_command", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show", help="a version's data, validation, parameters, code, metrics and blessing"
    )
    show.add_argument("reference", metavar="MODEL[:VERSION|@LABEL]")
    show.add_argument("--format", choices=("text", "json", "mermaid"), default="text")
    show.set_defaults(handler=_lineage_show)
    trace = actions.add_parser("trace", help="every version whose lineage used this data")
    trace.add_argument("query", metavar="PATH_OR_HASH", help="a file or folder, or 8+ md5 digits")
    trace.set_defaults(handler=_lineage_trace)
    verify = actions.add_parser(
        "verify", help="rehash versions, check the audit log and the DVC data; exit 1 if not"
    )
    verify.add_argument("reference", nargs="?", metavar="MODEL[:VERSION]")
    verify.add_argument("--all", action="store_true", help="every version of every model")
    verify.set_defaults(handler=_lineage_verify)
    reproduce = commands.add_parser(
        "reproduce",
        help="rerun a version's pipeline from its commit and data; exit 0 if identical",
    )
    reproduce.add_argument("reference", metavar="MODEL:VERSION|MODEL@LABEL")
    reproduce.add_argument("--keep", action="store_true", help="keep the temporary worktree")
    reproduce.add_argument(
        "--allow-dirty", action="store_true", help="rerun from the commit of a dirty record"
    )
    reproduce.add_argument("--until", metavar="STAGE", help="stop after this stage")
    reproduce.set_defaults(handler=_reproduce)
    for action in (show, trace, verify, reproduce):
        _add_registry_options(action)
        action.add_argument("--json", action="store_true", help="print JSON for machines")


def _pipelines_export(args: argparse.Namespace) -> int:
    from visionops.containers.export import export_command

    output = Path(args.output) if args.output else None
    return export_command(Path(args.project_dir), output, args.image, args.check)


def _add_pipelines_parser(commands: argparse._SubParsersAction) -> None:
    """Adds ``visionops pipelines export`` (its logic lives in visionops.containers)."""
    pipelines = commands.add_parser(
        "pipelines", help="the stages as containers: compose, Argo, Airflow, CronJob specs"
    )
    actions = pipelines.add_subparsers(dest="pipelines_command", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="write pipelines/ from the Kedro pipeline registry",
        description=(
            "Writes docker-compose.yml, argo-workflow.yaml, volume.yaml, cronjob.yaml and "
            "airflow_dag.py: each stage in its own container of the visionops image, in "
            "the order its datasets impose. With --check, writes nothing and exits 1 if "
            "any file differs from what would be written."
        ),
    )
    export.add_argument("--output", help="the folder to write (default: <project>/pipelines)")
    export.add_argument(
        "--image", help="the image every container runs (default: visionops:latest)"
    )
    export.add_argument("--check", action="store_true", help="exit 1 if pipelines/ is stale")
    export.add_argument("--project-dir", default=".", help="the project folder (default: .)")
    export.set_defaults(handler=_pipelines_export)


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 -- one statement per option
    """The argument parser of every visionops command."""
    parser = argparse.ArgumentParser(
        prog="visionops",
        description=(
            "Reproducible pipelines for image classifiers. Run the stages with "
            "'dvc repro' (or 'kedro run --pipelines NAME'); inspect results with these commands."
        ),
    )
    parser.add_argument("--version", action="version", version=f"visionops {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    models = commands.add_parser(
        "models", help="inspect the model registry, move its labels, audit its log"
    )
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = models_commands.add_parser("list", help="list registered versions and their labels")
    listing.set_defaults(handler=_models_list)
    showing = models_commands.add_parser(
        "show", help="a version's folder, labels, lineage and events; or a model's history"
    )
    showing.add_argument("reference", metavar="MODEL[:VERSION|@LABEL]")
    showing.set_defaults(handler=_models_show)
    promoting = models_commands.add_parser("promote", help="point a label at a version")
    promoting.add_argument("reference", metavar="MODEL:VERSION|MODEL@LABEL")
    promoting.set_defaults(handler=_models_promote)
    rolling_back = models_commands.add_parser(
        "rollback", help="point a label back at the version it pointed at before"
    )
    rolling_back.add_argument("model", metavar="MODEL")
    rolling_back.set_defaults(handler=_models_rollback)
    for moving in (promoting, rolling_back):
        moving.add_argument("--label", default=PRODUCTION, help="default: production")
        moving.add_argument("--reason", required=True, help="why, for the audit log")
    event_log = models_commands.add_parser("events", help="print a model's audit log")
    event_log.add_argument("model", metavar="MODEL")
    event_log.add_argument(
        "--verify", action="store_true", help="check the hash chain; exit 1 naming each problem"
    )
    event_log.set_defaults(handler=_models_events)
    tfserving = models_commands.add_parser(
        "tfserving-config",
        help="models.config with absolute paths, for TensorFlow Serving (which needs them)",
    )
    tfserving.add_argument(
        "--mount", required=True, help="where TensorFlow Serving sees the registry, e.g. /models"
    )
    tfserving.add_argument("--output", help="write here instead of printing")
    tfserving.set_defaults(handler=_models_tfserving_config)
    for action in (listing, showing, promoting, rolling_back, event_log, tfserving):
        _add_registry_options(action)
        action.add_argument("--json", action="store_true", help="print JSON for machines")

    validate = commands.add_parser(
        "validate",
        help="validate a data source against the expectation suites, or infer suites from it",
        description=(
            "Validates the source named by the ingestion parameters (or --source/--path) "
            "with the project's expectation suites and drift checks, as the "
            "data_validation stage does. With --init-suite, infers the suites from data "
            "you trust instead and pins its profile as the drift reference, for you to "
            "review and commit."
        ),
    )
    validate.add_argument(
        "--source", help="digits, image_folder, cifar10 or npz (default: ingestion.source)"
    )
    validate.add_argument("--path", help="the source's file or folder (default: ingestion.path)")
    validate.add_argument(
        "--init-suite",
        action="store_true",
        help="write the expectation suites (conf/base/expectations/{images,dataset,classes}"
        ".json) and the pinned drift reference (conf/base/reference/<model_name>.json) "
        "from this data",
    )
    validate.add_argument("--force", action="store_true", help="with --init-suite: overwrite")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.add_argument("--project-dir", default=".", help="the project folder (default: .)")
    validate.set_defaults(handler=_validate)

    serve = commands.add_parser(
        "serve",
        help="serve the registry over TensorFlow Serving's REST and gRPC APIs",
        description=(
            "Serves every model in the registry at /v1/models/... (status, metadata, "
            ":predict), with /healthz and /metrics, and over TF Serving's gRPC API "
            "(Predict, GetModelMetadata, GetModelStatus) on --grpc-port, until Ctrl-C or "
            "SIGTERM. The versions models.config's version policy selects are loaded "
            "(visionops writes the labelled versions and the newest); new versions and moved "
            "labels are picked up while serving, a label moving only once its new version "
            "has loaded."
        ),
    )
    _add_registry_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=int, default=8501, help="default: 8501")
    serve.add_argument(
        "--grpc-port",
        type=int,
        default=8500,
        help="port of TF Serving's gRPC API (PredictionService, ModelService) on the same "
        "--host; 0 turns it off (default: 8500)",
    )
    serve.add_argument(
        "--max-batch-size",
        type=int,
        default=32,
        help="most images merged into one model call; 1 turns micro-batching off (default: 32)",
    )
    serve.add_argument("--no-batching", action="store_true", help="same as --max-batch-size 1")
    serve.add_argument(
        "--batch-timeout-ms",
        type=float,
        default=2.0,
        help="longest a request waits for others to join its batch (default: 2)",
    )
    serve.add_argument(
        "--max-body-mb", type=float, default=16.0, help="larger bodies get 413 (default: 16)"
    )
    serve.add_argument(
        "--max-inflight-mb",
        type=float,
        default=256.0,
        help="most MiB of request bodies held at once by the requests being answered; past "
        "it a request gets 503 (default: 256)",
    )
    serve.add_argument(
        "--max-image-pixels",
        type=int,
        default=None,
        help="most pixels an encoded image may declare in its header; larger ones get 400 "
        "before decoding (default: 64 x the model's input height x width, at least "
        "1024 x 1024)",
    )
    serve.add_argument(
        "--poll-seconds", type=float, default=1.0, help="registry polling period (default: 1)"
    )
    serve.add_argument(
        "--intra-op-threads",
        type=int,
        default=0,
        help="threads one TensorFlow op may use, as TF Serving's "
        "--tensorflow_intra_op_parallelism; 1 leaves the other CPUs to the HTTP side, "
        "which with micro-batching on few CPUs answers more requests (default: 0, "
        "TensorFlow's choice)",
    )
    serve.add_argument(
        "--inter-op-threads",
        type=int,
        default=0,
        help="threads running independent TensorFlow ops, as TF Serving's "
        "--tensorflow_inter_op_parallelism (default: 0, TensorFlow's choice)",
    )
    serve.add_argument(
        "--prediction-log",
        help="the production folder the predictions and feedback go to (default: "
        "prediction_log.folder in conf/base/monitoring.yml, data/09_production)",
    )
    serve.add_argument(
        "--no-prediction-log",
        action="store_true",
        help="record no prediction (whatever conf/base/monitoring.yml says)",
    )
    serve.set_defaults(handler=_serve)

    _add_schedule_parser(commands)
    _add_monitoring_parsers(commands)
    _add_lineage_parsers(commands)
    _add_pipelines_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Runs the command named in ``argv`` and exits with its status."""
    from visionops.devices import hide_absent_gpus

    hide_absent_gpus()  # before any command imports TensorFlow
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        sys.exit(0)
    try:
        _resolve_registry(args)
        sys.exit(args.handler(args))
    except VisionOpsError as error:
        print(f"visionops: error: {error}", file=sys.stderr)
        sys.exit(1)
