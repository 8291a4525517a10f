"""``visionops validate``: the validation gate on any source, and suite inference."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from visionops.config import load_config
from visionops.dataplane.ingest import make_job
from visionops.dataplane.reader import ShardedDataset
from visionops.errors import ConfigError
from visionops.sources import open_source
from visionops.validation.drift import dataset_profile
from visionops.validation.gate import format_report, task_advice, validate_dataset, value_range
from visionops.validation.infer import infer_suites
from visionops.validation.profile import profile_dataset
from visionops.validation.reference import load_reference

SUITE_NAMES = ("images", "dataset", "classes")
REFERENCE_DATASET = "drift_reference"


def _project_path(project_dir: Path, path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else project_dir / path


def suite_paths(catalog: dict[str, Any], project_dir: Path) -> dict[str, Path]:
    """Where the pipeline reads each suite: the catalog's ``<name>_suite`` entries."""
    return {
        name: _project_path(project_dir, catalog[f"{name}_suite"]["filepath"])
        for name in SUITE_NAMES
    }


def reference_location(catalog: dict[str, Any], project_dir: Path) -> tuple[Path, str, Path]:
    """The registry, model name and pinned file the pipeline's drift reference reads."""
    entry = catalog[REFERENCE_DATASET]
    return (
        _project_path(project_dir, entry["registry"]),
        str(entry["model_name"]),
        _project_path(project_dir, entry["pinned"]),
    )


def _ingest(
    project_dir: Path,
    ingestion: dict[str, Any],
    source: str | None,
    path: str | None,
    target: Path,
) -> tuple[ShardedDataset, str]:
    """Ingests the source into ``target`` with the ``ingestion`` parameters, as the
    pipeline's ingestion stage would; returns the dataset and how to name it."""
    source = source or ingestion.get("source", "digits")
    path = path if path is not None else ingestion.get("path")
    if path and not Path(path).is_absolute():
        path = str(project_dir / path)
    described = source if source == "digits" else f"{source} {path}"
    params = {**ingestion, "source": source, "path": path}
    make_job(open_source(source, path), params).write(target)
    return ShardedDataset(target), described


def init_suites(
    project_dir: Path,
    dataset: ShardedDataset,
    described: str,
    params: dict[str, Any],
    force: bool,
) -> list[Path]:
    """Writes the inferred suites and the pinned drift reference; returns their paths.

    Raises:
        ConfigError: A target exists with other content and ``force`` is not set.
    """
    span = value_range(params)
    profile = profile_dataset(dataset, near_duplicates=params.get("near_duplicates"))
    suites = infer_suites(profile, dataset, described)
    reference = dataset_profile(
        dataset,
        value_range=span,
        bins=int(params.get("drift", {}).get("bins", 32)),
        chunk_size=int(params.get("chunk_size", 4096)),
    )
    catalog = load_config(project_dir, "catalog")
    contents = {
        path: json.dumps(suites[name], indent=2) + "\n"
        for name, path in suite_paths(catalog, project_dir).items()
    }
    contents[reference_location(catalog, project_dir)[2]] = json.dumps(reference) + "\n"
    clashes = [
        path for path, text in contents.items() if path.exists() and path.read_text() != text
    ]
    if clashes and not force:
        raise ConfigError(
            f"{', '.join(str(path) for path in clashes)} already exist(s); pass --force to "
            "replace them (then review the change with git diff)"
        )
    for path, text in contents.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(contents)


def validate_command(
    project_dir: Path,
    source: str | None,
    path: str | None,
    init_suite: bool,
    force: bool,
    as_json: bool,
) -> int:
    """Runs ``visionops validate``; returns the exit status (1 when validation fails).

    The source is ingested into a temporary dataset version (removed afterwards) with
    the project's ``ingestion`` parameters, and that version is validated.
    """
    parameters = load_config(project_dir, "parameters")
    with tempfile.TemporaryDirectory(prefix="visionops-validate-") as folder:
        dataset, described = _ingest(
            project_dir,
            parameters.get("ingestion", {}),
            source,
            path,
            Path(folder) / "dataset",
        )
        return _validate(project_dir, parameters, dataset, described, init_suite, force, as_json)


def _validate(
    project_dir: Path,
    parameters: dict[str, Any],
    dataset: ShardedDataset,
    described: str,
    init_suite: bool,
    force: bool,
    as_json: bool,
) -> int:
    params = parameters["data_validation"]
    if init_suite:
        written = init_suites(project_dir, dataset, described, params, force)
        print(f"inferred from {described} ({len(dataset)} images):")
        for target in written:
            print(f"  wrote {target}")
        print("review each expectation (its meta says what was observed), then commit")
        return 0
    catalog = load_config(project_dir, "catalog")
    reference = load_reference(*reference_location(catalog, project_dir))
    suites = []
    for suite_path in suite_paths(catalog, project_dir).values():
        try:
            suites.append(json.loads(suite_path.read_text()))
        except (OSError, ValueError) as error:
            raise ConfigError(f"expectation suite {suite_path} cannot be read: {error}") from error
    report = validate_dataset(dataset, suites, reference, params).report
    if as_json:
        print(json.dumps(report, indent=2))
    elif report["success"]:
        drift = report["drift"]
        compared = (
            f"drift checked against {drift['reference']}" if drift["reference"] else drift["note"]
        )
        print(
            f"{described}: {len(dataset)} images passed {report['evaluated']} expectations; "
            f"{compared}"
        )
        for item in report["quarantined"]:
            print(f"  set aside {item['file']}: {item['error']}")
    else:
        print(format_report(report, described))
        advice = task_advice(report, parameters["model_name"], parameters.get("ingestion", {}))
        if advice is not None:
            print(advice)
    return 0 if report["success"] else 1
