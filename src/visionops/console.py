"""The ``visionops`` command line. User errors print one line and exit 1, no traceback.

Named console.py, not cli.py: Kedro loads ``<package>/cli.py`` as a plugin for its own CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from visionops import __version__
from visionops.errors import VisionOpsError
from visionops.registry.layout import snapshot

DEFAULT_REGISTRY = "registry"


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


def _params_sync(args: argparse.Namespace) -> int:
    from visionops.params_file import PARAMS_FILE, render
    from visionops.project_config import load_config

    project = Path(args.project_dir)
    text = render(load_config(project, "parameters"))
    target = project / PARAMS_FILE
    current = target.read_text() if target.is_file() else None
    if args.check:
        if current != text:
            print(f"{target} is out of date with conf/base; run `visionops params sync`")
            return 1
        print(f"{target} is up to date")
        return 0
    if current != text:
        target.write_text(text)
        print(f"wrote {target} from conf/base")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every visionops command."""
    parser = argparse.ArgumentParser(
        prog="visionops",
        description=(
            "Reproducible pipelines for image classifiers. Run the stages with "
            "'dvc repro' (or 'kedro run --pipeline NAME'); inspect results with these commands."
        ),
    )
    parser.add_argument("--version", action="version", version=f"visionops {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    models = commands.add_parser("models", help="inspect the model registry")
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = models_commands.add_parser("list", help="list registered versions and their labels")
    listing.add_argument(
        "--registry",
        default=os.environ.get("VISIONOPS_REGISTRY", DEFAULT_REGISTRY),
        help="registry root folder (default: $VISIONOPS_REGISTRY or ./registry)",
    )
    listing.add_argument("--json", action="store_true", help="print JSON for machines")
    listing.set_defaults(handler=_models_list)

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
        help="write conf/base/expectations/{images,dataset,classes}.json and the pinned "
        "reference conf/base/reference/data_profile.json from this data",
    )
    validate.add_argument("--force", action="store_true", help="with --init-suite: overwrite")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.add_argument("--project-dir", default=".", help="the project folder (default: .)")
    validate.set_defaults(handler=_validate)

    params = commands.add_parser(
        "params", help="params.yaml, the parameters as DVC sees them (dvc exp run -S)"
    )
    params_commands = params.add_subparsers(dest="params_command", metavar="ACTION", required=True)
    sync = params_commands.add_parser(
        "sync", help="regenerate params.yaml from conf/base/parameters_*.yml"
    )
    sync.add_argument("--check", action="store_true", help="exit 1 if params.yaml is stale")
    sync.add_argument("--project-dir", default=".", help="the project folder (default: .)")
    sync.set_defaults(handler=_params_sync)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Runs the command named in ``argv`` and exits with its status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        sys.exit(0)
    try:
        sys.exit(args.handler(args))
    except VisionOpsError as error:
        print(f"visionops: error: {error}", file=sys.stderr)
        sys.exit(1)
