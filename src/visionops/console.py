"""The ``visionops`` command line. User errors print one line and exit 1, no traceback.

Named console.py, not cli.py: Kedro loads ``<package>/cli.py`` as a plugin for its own CLI.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from visionops import __version__
from visionops.errors import VisionOpsError
from visionops.registry.command import (
    add_models_parser,
    model_options,
    registry_options,
    resolve_registry,
)
from visionops.release.command import add_card_parser


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
        require_signature=args.require_signature,
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
        parents=[registry_options()],
        help="live drift, predicted classes, confidence and accuracy of the production model",
        description=(
            "Compares the prediction log of `visionops serve` over a window with the "
            "production version's training data (intensity per channel, image sizes) and "
            "test split (predicted class shares), and gives the mean confidence and the "
            "accuracy on feedback labels; thresholds in conf/base/monitoring.yml. Writes "
            "PNG plots and an HTML page to data/08_reporting/monitoring/."
        ),
    )
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
        parents=[registry_options()],
        help="record labels from a CSV file: request_id, label[, instance] (one row per image)",
    )
    importing.add_argument("file", help="the CSV file")
    exporting = actions.add_parser(
        "export",
        parents=[registry_options()],
        help="write the labelled production images as an image folder",
    )
    exporting.add_argument("--to", required=True, help="the image folder to (re)write")
    purging = actions.add_parser(
        "purge",
        parents=[registry_options()],
        help="remove predictions and labels past retention.days (monitoring.yml)",
    )
    purging.add_argument("--older-than", help="instead of retention.days: 12h, 30d or an ISO time")
    for action in (importing, exporting):
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
    options = [model_options()]  # --registry, --project-dir, --json
    show = actions.add_parser(
        "show",
        parents=options,
        help="a version's data, validation, parameters, code, metrics and blessing",
    )
    show.add_argument("reference", metavar="MODEL[:VERSION|@LABEL]")
    show.add_argument("--format", choices=("text", "json", "mermaid"), default="text")
    show.set_defaults(handler=_lineage_show)
    trace = actions.add_parser(
        "trace", parents=options, help="every version whose lineage used this data"
    )
    trace.add_argument("query", metavar="PATH_OR_HASH", help="a file or folder, or 8+ md5 digits")
    trace.set_defaults(handler=_lineage_trace)
    verify = actions.add_parser(
        "verify",
        parents=options,
        help="rehash versions, check the audit log and the DVC data; exit 1 if not",
    )
    verify.add_argument("reference", nargs="?", metavar="MODEL[:VERSION]")
    verify.add_argument("--all", action="store_true", help="every version of every model")
    verify.set_defaults(handler=_lineage_verify)
    reproduce = commands.add_parser(
        "reproduce",
        parents=options,
        help="rerun a version's pipeline from its commit and data; exit 0 if identical",
    )
    reproduce.add_argument("reference", metavar="MODEL:VERSION|MODEL@LABEL")
    reproduce.add_argument("--keep", action="store_true", help="keep the temporary worktree")
    reproduce.add_argument(
        "--allow-dirty", action="store_true", help="rerun from the commit of a dirty record"
    )
    reproduce.add_argument("--until", metavar="STAGE", help="stop after this stage")
    reproduce.set_defaults(handler=_reproduce)


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

    add_card_parser(add_models_parser(commands))

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
        parents=[registry_options()],
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
    serve.add_argument(
        "--require-signature",
        action="store_true",
        help="load only versions whose signature holds; an unsigned or changed version is "
        "refused (its status names the file and why) and the versions served keep serving",
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
        resolve_registry(args)
        sys.exit(args.handler(args))
    except VisionOpsError as error:
        print(f"visionops: error: {error}", file=sys.stderr)
        sys.exit(1)
