"""render_data_docs: a Data Docs site, opened from disk, that shows which suites failed."""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from visionops.validation.data_docs import relative_links, render_data_docs
from visionops.validation.expectations import _great_expectations, build_suite


def _suite(name: str, max_width: int, count: int = 1) -> dict[str, Any]:
    """A suite in JSON form: ``count`` width range checks plus a label check."""
    between = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "width", "min_value": 1, "max_value": max_width},
    }
    in_set = {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "label", "value_set": ["cat", "dog"]},
    }
    return {"name": name, "expectations": [between] * count + [in_set]}


def _validate(frame: pd.DataFrame, suites: list[dict[str, Any]]) -> list[Any]:
    """Validates the frame against each suite the way the project does, in an ephemeral context."""
    gx = _great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("images")
        .add_dataframe_asset("profile")
        .add_batch_definition_whole_dataframe("all_rows")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    return [
        batch.validate(build_suite(suite), result_format={"result_format": "SUMMARY"})
        for suite in suites
    ]


def _frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "width": rng.integers(8, 65, rows),
            "label": rng.choice(["cat", "dog"], rows),
            "source_id": [f"img/{index}.png" for index in range(rows)],
        }
    )


@pytest.fixture(scope="module")
def site() -> dict[str, bytes]:
    """A site for one passing suite ("images") and one failing suite ("shapes")."""
    results = _validate(_frame(200), [_suite("images", 64), _suite("shapes", 32)])
    assert [result.success for result in results] == [True, False]
    return render_data_docs(results, title="nightly check")


def _index(site: dict[str, bytes]) -> str:
    return site["index.html"].decode("utf-8")


def _row(index_html: str, suite: str) -> str:
    """The index table row that links the suite's validation page."""
    rows = index_html.split("<tr>")
    return next(row for row in rows if f'href="validations/{suite}/' in row)


def _text(html: str) -> str:
    """The page's visible text, tags dropped and whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_index_names_each_suite_and_which_failed(site: dict[str, bytes]) -> None:
    index_html = _index(site)
    assert "nightly check" in index_html
    assert "1 of 2 validations succeeded, 1 failed" in index_html
    passing, failing = _row(index_html, "images"), _row(index_html, "shapes")
    assert "Succeeded" in passing and "Failed" not in passing
    assert "Failed" in failing and "Succeeded" not in failing


def test_index_shows_evaluated_and_failed_counts(site: dict[str, bytes]) -> None:
    cells = [
        cell.split("</div>")[0]
        for cell in _row(_index(site), "shapes").split('<div class="show-scrollbars">')[1:]
    ]
    evaluated, failed = cells[2], cells[3]
    assert (evaluated, failed) == ("2", "1")


def test_each_result_has_its_linked_page(site: dict[str, bytes]) -> None:
    linked = {
        path for path in relative_links("index.html", site["index.html"]) if "validations/" in path
    }
    assert len(linked) == 2
    assert all(path in site for path in linked)
    assert any("/images/" in path for path in linked)
    assert any("/shapes/" in path for path in linked)


def test_failing_page_names_the_failing_column_and_expectation(site: dict[str, bytes]) -> None:
    page_path = next(path for path in site if path.startswith("validations/shapes/"))
    text = _text(site[page_path].decode("utf-8"))
    assert "Status: Failed" in text
    # GE's wording for the failed range check on the width column, with its count of misses.
    failed_check = "values must be greater than or equal to 1.0 and less than or equal to 32.0"
    assert re.search(rf"width .*{failed_check} \. \d+ unexpected values found", text)


@pytest.mark.parametrize("page_path", ["index.html", "every page"])
def test_relative_links_resolve_inside_the_site(site: dict[str, bytes], page_path: str) -> None:
    """Opened from file://, every local href/src finds its file (CDN URLs are left alone)."""
    pages = [page_path] if page_path == "index.html" else [p for p in site if p.endswith(".html")]
    for page in pages:
        missing = relative_links(page, site[page]) - set(site)
        assert not missing, f"{page} links to files the site lacks: {sorted(missing)}"


def test_paths_are_relative_and_values_bytes(site: dict[str, bytes]) -> None:
    assert all(not path.startswith("/") and ".." not in path.split("/") for path in site)
    assert all(isinstance(content, bytes) for content in site.values())


def test_same_results_give_the_same_files() -> None:
    """The same paths with the same contents, not only the same paths."""
    results = _validate(_frame(50), [_suite("images", 64)])
    first, second = render_data_docs(results), render_data_docs(results)
    assert first == second
    assert any(path.endswith(".html") and b"images" in content for path, content in first.items())


def test_validating_the_same_data_again_renders_the_same_bytes() -> None:
    """A rerun on unchanged data rewrites the site byte for byte, though it ran later."""
    suites = [_suite("images", 64), _suite("shapes", 32)]
    first = _validate(_frame(50), suites)
    first_site = render_data_docs(first)
    time.sleep(0.01)
    second = _validate(_frame(50), suites)
    load_times = [result.meta["batch_markers"]["ge_load_time"] for result in (*first, *second)]
    assert load_times[0] != load_times[-1]
    assert render_data_docs(second) == first_site
    assert render_data_docs(first) == first_site
    pages = b"".join(content for path, content in first_site.items() if path.endswith(".html"))
    assert not any(load_time.encode() in pages for load_time in load_times)
    assert first[0].meta["batch_markers"]["pandas_data_fingerprint"].encode() in pages


def test_a_different_result_renders_a_different_page() -> None:
    (passing,) = _validate(_frame(50), [_suite("images", 64)])
    (failing,) = _validate(_frame(50), [_suite("images", 32)])
    passing_site, failing_site = render_data_docs([passing]), render_data_docs([failing])
    page = next(path for path in passing_site if path.startswith("validations/images/"))
    assert page in failing_site
    assert passing_site[page] != failing_site[page]
    assert "Status: Failed" in _text(failing_site[page].decode("utf-8"))
    assert "Status: Failed" not in _text(passing_site[page].decode("utf-8"))


def test_two_results_of_one_suite_get_two_pages() -> None:
    results = _validate(_frame(50), [_suite("images", 64), _suite("images", 10)])
    site = render_data_docs(results)
    pages = [path for path in site if path.startswith("validations/")]
    assert len([path for path in pages if path.endswith(".html")]) == 2


def test_suite_names_are_escaped_in_the_index() -> None:
    results = _validate(_frame(50), [_suite("a<b>/c", 64)])
    site = render_data_docs(results)
    assert "a&lt;b&gt;/c" in _index(site)
    assert "<b>" not in _index(site)
    assert all(".." not in path.split("/") for path in site)


def test_rejects_what_is_not_a_validation_result() -> None:
    with pytest.raises(TypeError, match=r"results\[0\] is a dict"):
        render_data_docs([{"success": True}])


def test_three_suites_on_a_large_frame_render_one_page_each() -> None:
    """How long this takes is measured by benchmarks/data_docs_render.py."""
    suites = [_suite(name, 64, count=14) for name in ("images", "dataset", "classes")]
    results = _validate(_frame(50_000), suites)
    site = render_data_docs(results)
    pages = [path for path in site if path.startswith("validations/") and path.endswith(".html")]
    assert sorted(page.split("/")[1] for page in pages) == ["classes", "dataset", "images"]


def test_a_run_id_names_the_page_folders_and_links_still_resolve() -> None:
    from great_expectations.core.run_identifier import RunIdentifier

    (result,) = _validate(_frame(50), [_suite("images", 64)])
    result.meta["run_id"] = RunIdentifier(run_name="nightly", run_time="2024-05-01T02:00:00Z")
    site = render_data_docs([result])
    page = next(path for path in site if path.startswith("validations/"))
    assert page.startswith("validations/images/nightly/20240501T020000")
    assert not relative_links(page, site[page]) - set(site)


def test_a_chart_shows_its_data_as_a_table_without_a_script() -> None:
    """Great Expectations draws some results with Vega from a CDN; offline, the page shows
    the chart's data instead, so the expected partition can still be read."""
    partition = {"bins": [0, 32, 65], "weights": [0.25, 0.75]}
    spread = {
        "type": "expect_column_kl_divergence_to_be_less_than",
        "kwargs": {"column": "width", "partition_object": partition, "threshold": 0.1},
    }
    site = render_data_docs(_validate(_frame(100), [{"name": "spread", "expectations": [spread]}]))
    for page in (
        "expectations/spread.html",
        "validations/spread/__none__/__none__/images-profile.html",
    ):
        html = site[page].decode("utf-8")
        assert "<script" not in html
        chart = _text(html.split("ge-chart-data", 1)[1].split("</table>", 1)[0])
        assert "bin_min bin_max fraction 0 32 0.25 32 65 0.75" in chart, page
