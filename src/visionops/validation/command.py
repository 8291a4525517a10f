"""``visionops validate``: the validation gate on any source, and suite inference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from visionops.datasets.reference_profile import ReferenceProfileDataset
from visionops.errors import ConfigError
from visionops.image_dataset import ImageDataset
from visionops.project_config import load_config
from visionops.sources import read_source
from visionops.validation.drift import distribution_profile
from visionops.validation.gate import format_report, validate_dataset, value_range
from visionops.validation.infer import infer_suites
from visionops.validation.profile import profile_images

SUITE_NAMES = ("images", "dataset", "classes")
EXPECTATIONS_DIR = Path("conf/base/expectations")
PINNED_REFERENCE = Path("conf/base/reference/data_profile.json")


def _read(
    project_dir: Path, ingestion: dict[str, Any], source: str | None, path: str | None
) -> tuple[ImageDataset, str]:
    source = source or ingestion.get("source", "digits")
    path = path if path is not None else ingestion.get("path")
    if path and not Path(path).is_absolute():
        path = str(project_dir / path)
    options = {key: ingestion[key] for key in ("image_size", "channels") if key in ingestion}
    described = source if source == "digits" else f"{source} {path}"
    return read_source(source, path, options), described


def init_suites(
    project_dir: Path, dataset: ImageDataset, described: str, params: dict[str, Any], force: bool
) -> list[Path]:
    """Writes the inferred suites and the pinned drift reference; returns their paths.

    Raises:
        ConfigError: A target exists with other content and ``force`` is not set.
    """
    span = value_range(params)
    profile = profile_images(
        dataset, value_range=span, near_duplicates=params.get("near_duplicates")
    )
    suites = infer_suites(profile, dataset, described)
    readable = dataset.subset(dataset.readable.nonzero()[0])
    reference = distribution_profile(
        readable.images,
        readable.labels,
        dataset.class_names,
        value_range=span,
        bins=int(params.get("drift", {}).get("bins", 32)),
    )
    contents = {
        project_dir / EXPECTATIONS_DIR / f"{name}.json": json.dumps(suites[name], indent=2) + "\n"
        for name in SUITE_NAMES
    }
    contents[project_dir / PINNED_REFERENCE] = json.dumps(reference) + "\n"
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
    """Runs ``visionops validate``; returns the exit status (1 when validation fails)."""
    parameters = load_config(project_dir, "parameters")
    params = parameters["data_validation"]
    dataset, described = _read(project_dir, parameters.get("ingestion", {}), source, path)
    if init_suite:
        written = init_suites(project_dir, dataset, described, params, force)
        print(f"inferred from {described} ({len(dataset)} images):")
        for target in written:
            print(f"  wrote {target}")
        print("review each expectation (its meta says what was observed), then commit")
        return 0
    global_values = load_config(project_dir, "globals")
    reference = ReferenceProfileDataset(
        registry=str(project_dir / global_values["registry_root"]),
        model_name=global_values["model_name"],
        pinned=str(project_dir / PINNED_REFERENCE),
    ).load()
    suites = []
    for name in SUITE_NAMES:
        suite_path = project_dir / EXPECTATIONS_DIR / f"{name}.json"
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
    return 0 if report["success"] else 1
