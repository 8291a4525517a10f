"""Time of rendering a Data Docs site against Great Expectations' own page rendering.

Three suites of 15 expectations (14 width range checks and a label check, as in
tests/validation/test_data_docs.py) are validated on a 50,000-row profile frame, then
:func:`~visionops.validation.data_docs.render_data_docs` renders the whole site: a
validation page per suite, a page per suite, the index and the shipped static files.
The baseline is Great Expectations' stock rendering of the same three validation pages
(``ValidationResultsPageRenderer`` and ``DefaultJinjaPageView``), which the site's pages
are made of. Each side runs 5 times after a warm-up; the best counts. The suite pages,
the index and the static files are the site's extra work: on a shared 2-CPU machine the
site took 0.10 s, a ratio of 1.8; a ratio well above 2 means the site's own layer has
grown slow. Last line: ``site_s=<x> stock_pages_s=<y> ratio=<x/y>``.

Usage: .venv/bin/python benchmarks/data_docs_render.py [--rows 50000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from visionops.validation.data_docs import render_data_docs
from visionops.validation.expectations import _great_expectations, build_suite


def suite(name: str, checks: int) -> dict[str, Any]:
    """A suite in JSON form: ``checks`` width range checks plus a label check."""
    between = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "width", "min_value": 1, "max_value": 64},
    }
    in_set = {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "label", "value_set": ["cat", "dog"]},
    }
    return {"name": name, "expectations": [between] * checks + [in_set]}


def validate(rows: int) -> list[Any]:
    """Validation results of the three suites on a seeded frame of ``rows`` rows."""
    gx = _great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "width": rng.integers(8, 65, rows),
            "label": rng.choice(["cat", "dog"], rows),
            "source_id": [f"img/{index}.png" for index in range(rows)],
        }
    )
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("images")
        .add_dataframe_asset("profile")
        .add_batch_definition_whole_dataframe("all_rows")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    return [
        batch.validate(build_suite(suite(name, 14)), result_format={"result_format": "SUMMARY"})
        for name in ("images", "dataset", "classes")
    ]


def stock_pages(results: list[Any]) -> list[str]:
    """Great Expectations' own HTML for each result's validation page."""
    from great_expectations.render.renderer.page_renderer import ValidationResultsPageRenderer
    from great_expectations.render.view.view import DefaultJinjaPageView

    view = DefaultJinjaPageView()
    return [view.render(ValidationResultsPageRenderer().render(result)) for result in results]


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """The fastest of ``repeats`` timed calls of ``work``, after one untimed call."""
    work()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = validate(args.rows)
    site = render_data_docs(results)
    pages = sum(path.startswith("validations/") for path in site)
    assert pages == len(results), sorted(site)
    site_s = best_of(args.repeats, lambda: render_data_docs(results))
    stock_s = best_of(args.repeats, lambda: stock_pages(results))
    print(f"{len(results)} suites on {args.rows} rows; {len(site)} files in the site")
    print(f"site_s={site_s:.3f} stock_pages_s={stock_s:.3f} ratio={site_s / stock_s:.2f}")


if __name__ == "__main__":
    main()
