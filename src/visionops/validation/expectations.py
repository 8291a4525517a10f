"""Runs a Great Expectations suite, kept as a JSON file in conf/, over an image profile."""

from __future__ import annotations

import logging
import os
from typing import Any

import pandas as pd

from visionops.errors import ConfigError

logger = logging.getLogger(__name__)

MAX_EXAMPLES = 5


def _great_expectations() -> Any:
    # Analytics stay off unless the user opted in by setting the variable themselves.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def build_suite(suite_config: dict[str, Any]) -> Any:
    """Builds an ``ExpectationSuite`` from its JSON form (as Great Expectations writes it).

    Raises:
        ConfigError: The suite names an unknown expectation or gives it bad arguments.
    """
    gx = _great_expectations()
    from great_expectations.expectations.registry import get_expectation_impl

    name = suite_config.get("name", "suite")
    expectations = []
    for index, entry in enumerate(suite_config.get("expectations", [])):
        try:
            expectation_class = get_expectation_impl(entry["type"])
            expectations.append(
                expectation_class(**entry.get("kwargs", {}), meta=entry.get("meta"))
            )
        except Exception as error:
            raise ConfigError(
                f"expectation {index} ({entry.get('type')!r}) of suite {name!r} is invalid: {error}"
            ) from error
    return gx.ExpectationSuite(name=name, expectations=expectations)


def run_suite(
    profile: pd.DataFrame, suite_config: dict[str, Any], parameters: dict[str, Any]
) -> dict[str, Any]:
    """Validates ``profile`` against the suite and returns a JSON-ready summary.

    Args:
        profile: One row per image, as made by :func:`visionops.validation.profile.profile_images`.
        suite_config: The suite in Great Expectations' JSON form.
        parameters: Values for the suite's ``{"$PARAMETER": name}`` placeholders.

    Returns:
        ``{"suite", "success", "evaluated", "failed", "expectations": [...]}`` where each
        expectation has its type, column, success, observed and expected values, the
        count of offending rows and up to five of their source ids.
    """
    gx = _great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    suite = build_suite(suite_config)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("images")
        .add_dataframe_asset("profile")
        .add_batch_definition_whole_dataframe("all_rows")
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": profile})
    result = batch.validate(
        suite, expectation_parameters=parameters, result_format={"result_format": "SUMMARY"}
    )
    expectations = [_summarize(outcome, profile) for outcome in result.results]
    failed = [entry for entry in expectations if not entry["success"]]
    return {
        "suite": suite.name,
        "success": bool(result.success),
        "evaluated": len(expectations),
        "failed": len(failed),
        "rows": len(profile),
        "expectations": expectations,
    }


def _summarize(outcome: Any, profile: pd.DataFrame) -> dict[str, Any]:
    config = outcome.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    details = dict(outcome.result or {})
    indices = details.get("partial_unexpected_index_list") or []
    examples = [
        {"source_id": str(profile.iloc[i]["source_id"]), "value": _plain(value)}
        for i, value in zip(indices, details.get("partial_unexpected_list") or [], strict=False)
    ][:MAX_EXAMPLES]
    error = (outcome.exception_info or {}).get("exception_message") if not outcome.success else None
    return {
        "expectation": config.type,
        "column": kwargs.pop("column", None),
        "success": bool(outcome.success),
        "expected": {key: _plain(value) for key, value in kwargs.items()},
        "observed": _plain(details.get("observed_value")),
        "unexpected_count": details.get("unexpected_count"),
        "examples": examples,
        "why": (config.meta or {}).get("why"),
        "error": error,
    }


def _plain(value: Any) -> Any:
    """Turns numpy scalars and containers into JSON-ready Python values."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return value.item()
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def format_failures(summary: dict[str, Any], dataset_name: str) -> str:
    """One screen naming each failed expectation, observed against expected, with examples."""
    lines = [
        f"data validation failed: {summary['failed']} of {summary['evaluated']} expectations "
        f"of suite {summary['suite']!r} failed on {dataset_name} ({summary['rows']} images)"
    ]
    for entry in summary["expectations"]:
        if entry["success"]:
            continue
        target = (
            f"{entry['expectation']}({entry['column']})"
            if entry["column"]
            else entry["expectation"]
        )
        expected = ", ".join(f"{key}={value}" for key, value in entry["expected"].items())
        line = f"  - {target}: expected {expected}"
        if entry["unexpected_count"] is not None:
            line += f"; {entry['unexpected_count']} of {summary['rows']} images unexpected"
        if entry["observed"] is not None:
            line += f"; observed {entry['observed']}"
        if entry["error"]:
            line += f"; error: {entry['error']}"
        lines.append(line)
        if entry["why"]:
            lines.append(f"      why: {entry['why']}")
        for example in entry["examples"]:
            lines.append(f"      e.g. {example['source_id']}: {example['value']}")
    return "\n".join(lines)
