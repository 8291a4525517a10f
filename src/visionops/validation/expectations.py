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


def resolve_parameters(value: Any, parameters: dict[str, Any], where: str) -> Any:
    """Replaces every ``{"$PARAMETER": name}`` in ``value`` with ``parameters[name]``.

    Raises:
        ConfigError: A placeholder names a parameter that has no value.
    """
    if isinstance(value, dict):
        if set(value) == {"$PARAMETER"}:
            name = value["$PARAMETER"]
            if name not in parameters:
                raise ConfigError(
                    f"{where} uses $PARAMETER {name!r}, which has no value; known: "
                    f"{', '.join(sorted(parameters))}"
                )
            return parameters[name]
        return {key: resolve_parameters(item, parameters, where) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_parameters(item, parameters, where) for item in value]
    return value


def build_suite(suite_config: dict[str, Any], parameters: dict[str, Any] | None = None) -> Any:
    """Builds an ``ExpectationSuite`` from its JSON form (as Great Expectations writes it),
    with ``$PARAMETER`` placeholders replaced by ``parameters``.

    Raises:
        ConfigError: The suite names an unknown expectation, gives it bad arguments,
            or uses a parameter that has no value.
    """
    gx = _great_expectations()
    from great_expectations.expectations.registry import get_expectation_impl

    name = suite_config.get("name", "suite")
    expectations = []
    for index, entry in enumerate(suite_config.get("expectations", [])):
        where = f"expectation {index} ({entry.get('type')!r}) of suite {name!r}"
        kwargs = resolve_parameters(entry.get("kwargs", {}), parameters or {}, where)
        try:
            expectation_class = get_expectation_impl(entry["type"])
            expectations.append(expectation_class(**kwargs, meta=entry.get("meta")))
        except Exception as error:
            raise ConfigError(f"{where} is invalid: {error}") from error
    return gx.ExpectationSuite(name=name, expectations=expectations)


def suite_table(suite_config: dict[str, Any]) -> str:
    """The table a suite checks, from its ``meta.table`` (default ``images``)."""
    return str((suite_config.get("meta") or {}).get("table", "images"))


def run_suites(
    tables: dict[str, pd.DataFrame],
    suite_configs: list[dict[str, Any]],
    parameters: dict[str, Any],
    id_columns: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Validates each table against the suites that name it, in one ephemeral context.

    Args:
        tables: The frames to check, by table name (e.g. ``images``, ``classes``).
        suite_configs: Suites in Great Expectations' JSON form; ``meta.table`` says
            which table each checks.
        parameters: Values for the suites' ``{"$PARAMETER": name}`` placeholders.
        id_columns: The column naming a row of each table in examples
            (default ``source_id``).

    Returns:
        A JSON-ready summary per suite (see :func:`summarize_result`), and the Great
        Expectations validation results, for Data Docs.

    Raises:
        ConfigError: A suite is invalid or names a table that does not exist.
    """
    gx = _great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("visionops")
    batches: dict[str, Any] = {}
    summaries, results = [], []
    for suite_config in suite_configs:
        table = suite_table(suite_config)
        if table not in tables:
            raise ConfigError(
                f"suite {suite_config.get('name')!r} checks table {table!r}; "
                f"the tables here are {', '.join(tables)}"
            )
        if table not in batches:
            definition = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe(
                "all_rows"
            )
            batches[table] = definition.get_batch(batch_parameters={"dataframe": tables[table]})
        suite = build_suite(suite_config, parameters)
        result = batches[table].validate(suite, result_format={"result_format": "SUMMARY"})
        id_column = (id_columns or {}).get(table, "source_id")
        summaries.append(summarize_result(result, tables[table], table, id_column))
        results.append(result)
    return summaries, results


def summarize_result(
    result: Any, frame: pd.DataFrame, table: str, id_column: str = "source_id"
) -> dict[str, Any]:
    """A JSON-ready summary of one suite's validation result.

    Returns:
        ``{"suite", "table", "success", "evaluated", "failed", "rows", "expectations"}``
        where each expectation has its type, column, success, observed and expected
        values, the count of offending rows and up to five of them.
    """
    expectations = [_summarize(outcome, frame, id_column) for outcome in result.results]
    return {
        "suite": result.suite_name,
        "table": table,
        "success": bool(result.success),
        "evaluated": len(expectations),
        "failed": sum(not entry["success"] for entry in expectations),
        "rows": len(frame),
        "expectations": expectations,
    }


def _summarize(outcome: Any, frame: pd.DataFrame, id_column: str) -> dict[str, Any]:
    config = outcome.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    details = dict(outcome.result or {})
    indices = details.get("partial_unexpected_index_list") or []
    values = details.get("partial_unexpected_list") or []
    # A file that cannot be read is better described by its error than by "False".
    explain = "read_error" if kwargs.get("column") == "readable" else None
    examples = [
        {
            "row": str(frame.loc[index, id_column]) if id_column in frame else str(index),
            "value": _plain(frame.loc[index, explain] if explain else value),
        }
        for index, value in zip(indices, values, strict=False)
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
