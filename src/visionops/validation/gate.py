"""The data validation gate: profile, expectation suites, drift, and one verdict.

:func:`validate_dataset` is what the data validation stage and ``visionops validate``
both run. It never raises for bad data: it returns a report whose ``success`` says
whether the data may go on, and :func:`format_report` turns a failed report into the
one screen a user reads. Data that passed goes on as :func:`validated_manifest`: the
hash of the index validated and the rows set aside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from visionops.dataplane.reader import ShardedDataset
from visionops.dataplane.splits import index_sha256
from visionops.errors import ConfigError
from visionops.task import new_model_advice, task_difference
from visionops.validation.drift import compare_profiles, dataset_profile, format_drift
from visionops.validation.expectations import run_suites
from visionops.validation.profile import profile_dataset

ON_INVALID = ("fail", "quarantine")
DRIFT_REFERENCES = ("auto", "pinned", "none")
ID_COLUMNS = {"images": "source_id", "classes": "class_name", "split_images": "source_id"}
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class ValidationOutcome:
    """Everything one validation produces.

    Attributes:
        report: JSON-ready summary: success, each suite's expectations, drift, and
            the files set aside.
        image_profile: One row per image (see :func:`profile_dataset`).
        data_profile: Class counts and intensity histograms: what later data is
            compared with when this data's model is in production.
        results: Great Expectations validation results, for Data Docs.
    """

    report: dict[str, Any]
    image_profile: pd.DataFrame
    data_profile: dict[str, Any]
    results: list[Any]


def value_range(params: dict[str, Any]) -> tuple[float, float]:
    """The allowed pixel range from the ``data_validation`` parameters."""
    expectations = params["expectations"]
    low, high = float(expectations["min_pixel_value"]), float(expectations["max_pixel_value"])
    if not low < high:
        raise ConfigError(
            "data_validation.expectations.min_pixel_value must be below max_pixel_value; "
            f"got {low} and {high}"
        )
    return low, high


def class_table(dataset: ShardedDataset) -> pd.DataFrame:
    """One row per class: its id, name, readable image count, share, and share over an
    even share (``share_ratio``; 1.0 when perfectly balanced)."""
    classes = len(dataset.class_names)
    index = dataset.index
    labels = (
        index["label"].to_numpy(dtype=np.int64)[index["readable"].fillna(False).to_numpy(bool)]
        if len(index)
        else np.zeros(0, dtype=np.int64)
    )
    labels = labels[(labels >= 0) & (labels < classes)]
    counts = np.bincount(labels, minlength=classes)[:classes]
    shares = counts / max(counts.sum(), 1)
    return pd.DataFrame(
        {
            "class_id": np.arange(classes),
            "class_name": list(dataset.class_names),
            "images": counts,
            "share": shares,
            "share_ratio": shares * classes,
        }
    )


def suite_parameters(
    dataset: ShardedDataset, profile: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """Values for the suites' ``$PARAMETER`` placeholders: the parameters' own, and
    the ones that follow from the data and from ``on_invalid``."""
    on_invalid = params.get("on_invalid", "fail")
    if on_invalid not in ON_INVALID:
        raise ConfigError(
            f"data_validation.on_invalid must be one of {', '.join(ON_INVALID)}; got {on_invalid!r}"
        )
    expectations = dict(params["expectations"])
    shapes = profile["shape"].dropna()
    max_invalid_share = float(params.get("max_invalid_share", 0.0))
    return {
        **expectations,
        "class_ids": list(range(len(dataset.class_names))),
        "common_shape": str(shapes.mode().iloc[0]) if len(shapes) else "",
        "min_readable_share": 1.0 if on_invalid == "fail" else 1.0 - max_invalid_share,
        "min_unique_share": 1.0 - float(expectations["max_duplicate_share"]),
        "min_unique_near_share": 1.0 - float(expectations["max_near_duplicate_share"]),
    }


def check_drift(
    data_profile: dict[str, Any], reference: dict[str, Any] | None, params: dict[str, Any]
) -> dict[str, Any]:
    """Compares ``data_profile`` with the reference chosen by ``drift.reference``.

    Args:
        data_profile: This data's :func:`distribution_profile`.
        reference: ``{"origin": str, "profile": dict}`` as loaded by
            :class:`~visionops.datasets.ReferenceProfileDataset`, or None.
        params: The ``data_validation`` parameters.

    Returns:
        ``{"reference": origin or None, "note": str, "checks": [...]}``, and
        ``different_task`` (how the data differs) when the reference's classes or image
        shape are not this data's: the data then belongs to another model, and no
        drift is measured.
    """
    drift = params.get("drift", {})
    choice = drift.get("reference", "auto")
    if choice not in DRIFT_REFERENCES:
        raise ConfigError(
            f"data_validation.drift.reference must be one of {', '.join(DRIFT_REFERENCES)}; "
            f"got {choice!r}"
        )
    if choice == "none":
        return {
            "reference": None,
            "note": "drift not checked: drift.reference is none",
            "checks": [],
        }
    if reference is None or (choice == "pinned" and reference["origin"].startswith("registry")):
        if choice == "pinned":
            raise ConfigError(
                "data_validation.drift.reference is pinned but no pinned reference exists; "
                "create it with `visionops validate --init-suite` on data you trust"
            )
        return {
            "reference": None,
            "note": "drift not checked: no production model and no pinned reference yet",
            "checks": [],
        }
    known = reference["profile"]
    difference = task_difference(
        data_profile["class_names"],
        data_profile["image_shape"],
        known.get("class_names") or [],
        known.get("image_shape") or [],
    )
    if difference is not None:
        return {
            "reference": reference["origin"],
            "note": "",
            "checks": [],
            "different_task": difference,
        }
    checks = compare_profiles(data_profile, known, drift)
    return {"reference": reference["origin"], "note": "", "checks": checks}


def validate_dataset(
    dataset: ShardedDataset,
    suites: list[dict[str, Any]],
    reference: dict[str, Any] | None,
    params: dict[str, Any],
) -> ValidationOutcome:
    """Profiles ``dataset``, runs the expectation suites and the drift checks, all from
    its index and stored histograms (see :func:`profile_dataset`, :func:`dataset_profile`).

    Args:
        dataset: The raw dataset version, unreadable files included.
        suites: Expectation suites in Great Expectations' JSON form, each naming the
            table it checks (``images`` or ``classes``) in ``meta.table``.
        reference: The drift reference (see :func:`check_drift`), or None.
        params: The ``data_validation`` parameters.

    Returns:
        The outcome; ``outcome.report["success"]`` is the verdict.
    """
    span = value_range(params)
    profile = profile_dataset(dataset, near_duplicates=params.get("near_duplicates"))
    data_profile = dataset_profile(
        dataset,
        value_range=span,
        bins=int(params.get("drift", {}).get("bins", 32)),
        chunk_size=int(params.get("chunk_size", 4096)),
    )
    drift = check_drift(data_profile, reference, params)
    summaries, results = run_suites(
        {"images": profile, "classes": class_table(dataset)},
        suites,
        suite_parameters(dataset, profile, params),
        ID_COLUMNS,
    )
    unreadable = profile.loc[~profile["readable"], ["source_id", "read_error"]]
    quarantined = (
        [{"file": row.source_id, "error": row.read_error} for row in unreadable.itertuples()]
        if params.get("on_invalid", "fail") == "quarantine"
        else []
    )
    drift_failed = "different_task" in drift or any(
        check["status"] == "fail" for check in drift["checks"]
    )
    report = {
        "success": all(summary["success"] for summary in summaries) and not drift_failed,
        "images": len(dataset),
        "evaluated": sum(summary["evaluated"] for summary in summaries),
        "failed": sum(summary["failed"] for summary in summaries),
        "suites": summaries,
        "drift": drift,
        "quarantined": quarantined,
    }
    return ValidationOutcome(report, profile, data_profile, results)


def validated_manifest(dataset: ShardedDataset, report: dict[str, Any]) -> dict[str, Any]:
    """What passed validation: the JSON-ready manifest the next stage reads.

    Args:
        dataset: The dataset version validated.
        report: Its validation report (``success`` true).

    Returns:
        ``{"format": 1, "index_sha256": hex, "images": rows kept, "excluded": sorted
        source ids of the rows set aside (unreadable or quarantined)}``.
    """
    index = dataset.index
    if len(index):
        unreadable = ~index["readable"].fillna(False).to_numpy(dtype=bool)
        excluded = set(index["source_id"].to_numpy(dtype=str)[unreadable].tolist())
    else:
        excluded = set()
    excluded |= {str(item["file"]) for item in report.get("quarantined", [])}
    kept = int((~index["source_id"].isin(excluded)).sum()) if len(index) else 0
    return {
        "format": MANIFEST_FORMAT,
        "index_sha256": index_sha256(dataset.folder),
        "images": kept,
        "excluded": sorted(excluded),
    }


def task_advice(report: dict[str, Any], model_name: str, ingestion: dict[str, Any]) -> str | None:
    """The one-line advice when the data is another task than ``model_name``'s
    reference (see :mod:`visionops.task`), else None."""
    drift = report["drift"]
    if not drift.get("different_task"):
        return None
    origin = str(drift["reference"])
    if origin.startswith("registry:"):
        known = f"production version {origin.rpartition('/')[2]}"
        return new_model_advice(model_name, known, drift["different_task"], ingestion)
    known = f"the pinned reference {origin.removeprefix('file:')}"
    return (
        f"{new_model_advice(model_name, known, drift['different_task'], ingestion)}; or, if "
        "this data is the task and the pinned reference is out of date, pin its profile "
        "instead: visionops validate --init-suite --force"
    )


def format_report(report: dict[str, Any], dataset_name: str) -> str:
    """One screen naming each failed expectation (observed against expected, counts and
    up to five offending rows), each drift check past its threshold, and the files
    set aside."""
    drift_lines = format_drift(report["drift"]["checks"])
    lines = [
        f"data validation failed on {dataset_name} ({report['images']} images): "
        f"{report['failed']} of {report['evaluated']} expectations failed"
        + (f", {len(drift_lines)} drift check(s) past threshold" if drift_lines else "")
    ]
    for summary in report["suites"]:
        for entry in summary["expectations"]:
            if not entry["success"]:
                lines.extend(_format_expectation(summary, entry))
    if report["drift"].get("different_task"):
        lines.append(
            f"  a different task than {report['drift']['reference']}: "
            f"{report['drift']['different_task']}"
        )
    if drift_lines:
        lines.append(f"  drift against {report['drift']['reference']}:")
        lines.extend(drift_lines)
    if report["quarantined"]:
        lines.append(f"  {len(report['quarantined'])} unreadable file(s) set aside:")
        lines.extend(f"      {item['file']}: {item['error']}" for item in report["quarantined"][:5])
    return "\n".join(lines)


def _format_expectation(summary: dict[str, Any], entry: dict[str, Any]) -> list[str]:
    target = (
        f"{entry['expectation']}({entry['column']})" if entry["column"] else entry["expectation"]
    )
    expected = ", ".join(f"{key}={value}" for key, value in entry["expected"].items())
    line = f"  - [{summary['suite']}] {target}: expected {expected}"
    if entry["unexpected_count"] is not None:
        line += f"; {entry['unexpected_count']} of {summary['rows']} rows unexpected"
    if entry["observed"] is not None:
        line += f"; observed {entry['observed']}"
    if entry["error"]:
        line += f"; error: {entry['error']}"
    lines = [line]
    if entry["why"]:
        lines.append(f"      why: {entry['why']}")
    lines.extend(
        f"      e.g. {example['row']}: {example['value']}" for example in entry["examples"]
    )
    return lines
