"""Renders Great Expectations validation results as a static Data Docs site, in memory.

Pages are Great Expectations' own (``ValidationResultsPageRenderer``,
``ExpectationSuitePageRenderer``, ``DefaultJinjaPageView``), laid out as Data Docs lays them
out (``validations/<suite>/<run name>/<run time>/<batch>.html``, ``expectations/<suite>.html``)
so that the relative links in them resolve. The index is a Great Expectations document with a
plain HTML table, not Data Docs' script-built one.

The site reads offline: the project's templates in ``data_docs_assets/templates`` stand in
for the Great Expectations ones that ask CDNs for Bootstrap, jQuery, Font Awesome and Vega,
and every page loads one stylesheet shipped in the site (``data_docs_assets/static``).
Collapsible blocks are ``<details>``, the validation filter is CSS, and charts show their
data as tables. The same results always give the same bytes, so that rerunning a pipeline on
the same data rewrites the site unchanged.
"""

from __future__ import annotations

import copy
import itertools
import posixpath
import re
from collections.abc import Iterator, Sequence
from html.parser import HTMLParser
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import ChoiceLoader, PackageLoader

from visionops.validation.expectations import _great_expectations

NO_VALUE = "__none__"  # What Great Expectations' own layout uses for a missing part.
# Batch markers that say when a batch was read rather than what it held.
LOAD_TIME_MARKERS = ("ge_load_time",)


def render_data_docs(
    results: Sequence[Any], title: str = "visionops data validation"
) -> dict[str, bytes]:
    """Renders validation results as every file of a static Data Docs site.

    The time each batch was read is left out, so that validating the same data again
    renders the same bytes; a run id the results carry is kept, as it names the run.

    Args:
        results: ``ExpectationSuiteValidationResult`` objects, e.g. from ``batch.validate``.
        title: Shown at the top of the index page.

    Returns:
        Relative POSIX path to file content: ``index.html`` linking to one Great
        Expectations validation page per result, a page per expectation suite, and the
        bundled static files those pages refer to.

    Raises:
        TypeError: An item of ``results`` is not an ``ExpectationSuiteValidationResult``.
    """
    _great_expectations()
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.render.renderer.page_renderer import ValidationResultsPageRenderer
    from great_expectations.render.view.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

    page_view = _site_view(DefaultJinjaPageView)()
    site: dict[str, bytes] = {}
    rows = []
    for position, result in enumerate(results):
        if not isinstance(result, ExpectationSuiteValidationResult):
            raise TypeError(
                f"results[{position}] is a {type(result).__name__}, not an "
                "ExpectationSuiteValidationResult; pass what batch.validate returns"
            )
        page_path = _unused_path(_validation_page_path(result), site)
        document = ValidationResultsPageRenderer().render(_without_load_time(result))
        site[page_path] = page_view.render(document, _site_root(page_path)).encode("utf-8")
        suite_path = _suite_page_path(result.suite_name)
        if suite_path is not None and suite_path not in site:
            suite_page = page_view.render(_suite_document(result), _site_root(suite_path))
            site[suite_path] = suite_page.encode("utf-8")
        rows.append(_index_row(result, page_path))
    failed = sum(1 for result in results if not result.success)
    index_view = _site_view(DefaultJinjaIndexPageView)()
    index = index_view.render(_index_document(title, rows, failed), _site_root("index.html"))
    site["index.html"] = index.encode("utf-8")
    site.update(_static_assets(site))
    return site


class _SiteView:
    """Mixed into a Great Expectations Jinja view: pages for this site, same bytes each time.

    The project's templates are looked up before Great Expectations' own, so pages load
    only what the site ships; each render is told ``site_root``, the relative path from
    the page to the site's folder, which those templates prefix to the shipped files (no
    render-time stamp on them, unlike Great Expectations' logo URL). Great Expectations
    gives each collapsible block a random id; here the ids count up from 1 on each page,
    which keeps them unique within the page.
    """

    _element_ids: Iterator[int]
    env: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        templates = PackageLoader("visionops.validation", "data_docs_assets/templates")
        self.env.loader = ChoiceLoader([templates, self.env.loader])

    def render(self, document: Any, site_root: str, **kwargs: Any) -> str:
        self._element_ids = itertools.count(1)
        return super().render(document, site_root=site_root, **kwargs)  # type: ignore[misc]

    def generate_html_element_uuid(self, prefix: str | None = None) -> str:
        return f"{prefix or ''}{next(self._element_ids)}"


def _site_view(view_class: type) -> type:
    """``view_class``, a Great Expectations Jinja view, rendering pages of this site."""
    return type(f"Site{view_class.__name__}", (_SiteView, view_class), {})


def _site_root(page_path: str) -> str:
    """The relative path from the page at ``page_path`` back to the site's folder."""
    return posixpath.relpath(".", posixpath.dirname(page_path) or ".")


def _without_load_time(result: Any) -> Any:
    """The result, less the batch markers that record when its batch was read."""
    markers = result.meta.get("batch_markers") or {}
    if not any(name in markers for name in LOAD_TIME_MARKERS):
        return result
    stable = copy.copy(result)
    kept = {name: value for name, value in markers.items() if name not in LOAD_TIME_MARKERS}
    stable.meta = {**result.meta, "batch_markers": kept}
    return stable


def _safe_segment(text: str) -> str:
    """One path segment made of word characters, dots and dashes, never ``.`` or ``..``."""
    segment = re.sub(r"[^\w.\-]", "_", text)
    return "_" if segment in ("", ".", "..") else segment


def _validation_page_path(result: Any) -> str:
    # The page's links climb one folder per suite name part plus three, so the page must
    # sit exactly that deep: validations/<suite parts>/<run name>/<run time>/<batch>.html.
    run_name, run_time = _run_parts(result.meta.get("run_id"))
    suite_parts = [_safe_segment(part) for part in result.suite_name.split(".")]
    folders = ["validations", *suite_parts, _safe_segment(run_name), _safe_segment(run_time)]
    return posixpath.join(*folders, f"{_safe_segment(_batch_identifier(result))}.html")


def _run_parts(run_id: Any) -> tuple[str, str]:
    """Run name and run time as Great Expectations names their folders."""
    from great_expectations.core.run_identifier import RunIdentifier

    if isinstance(run_id, dict):
        run_id = RunIdentifier(run_name=run_id.get("run_name"), run_time=run_id.get("run_time"))
    if isinstance(run_id, RunIdentifier):
        run_name, run_time = run_id.to_tuple()
        return str(run_name or NO_VALUE), str(run_time or NO_VALUE)
    return (str(run_id), NO_VALUE) if run_id else (NO_VALUE, NO_VALUE)


def _batch_identifier(result: Any) -> str:
    """``<data source>-<asset>``, as Great Expectations names a batch of a fluent asset."""
    definition = result.meta.get("active_batch_definition") or {}
    if not definition.get("data_asset_name"):
        return NO_VALUE
    return f"{definition.get('datasource_name')}-{definition['data_asset_name']}"


def _unused_path(path: str, site: dict[str, bytes]) -> str:
    """``path``, or ``path`` with a numbered suffix when two results would share a page."""
    stem, suffix = posixpath.splitext(path)
    candidate, number = path, 1
    while candidate in site:
        number += 1
        candidate = f"{stem}-{number}{suffix}"
    return candidate


def _suite_page_path(suite_name: str) -> str | None:
    """Where validation pages link their suite, or None when that link is no safe path."""
    parts = suite_name.split(".")
    if not all(re.fullmatch(r"[\w\-]+", part) for part in parts):
        return None
    return posixpath.join("expectations", *parts) + ".html"


def _suite_document(result: Any) -> Any:
    """The suite's page, rebuilt from the expectation configurations the result carries."""
    import great_expectations as gx
    from great_expectations.render.renderer.page_renderer import ExpectationSuitePageRenderer

    expectations = [
        outcome.expectation_config.to_domain_obj()
        for outcome in result.results
        if outcome.expectation_config is not None
    ]
    suite = gx.ExpectationSuite(name=result.suite_name, expectations=expectations)
    return ExpectationSuitePageRenderer().render(suite)


def _index_row(result: Any, page_path: str) -> list[Any]:
    """Status, linked suite name, counts and batch of one result, as index table cells."""
    from great_expectations.render import RenderedStringTemplateContent

    statistics = result.statistics or {}
    icon = "fas fa-check-circle text-success" if result.success else "fas fa-times text-danger"
    status = RenderedStringTemplateContent(
        content_block_type="string_template",
        string_template={
            "template": "$icon $status",
            "params": {"icon": "", "status": "Succeeded" if result.success else "Failed"},
            "styling": {"params": {"icon": {"tag": "i", "classes": icon.split()}}},
        },
    )
    link = RenderedStringTemplateContent(
        content_block_type="string_template",
        string_template={
            "template": "$suite",
            "params": {"suite": result.suite_name},
            "tag": "a",
            "styling": {"attributes": {"href": page_path}},
        },
    )
    percent = statistics.get("success_percent")
    return [
        status,
        link,
        str(statistics.get("evaluated_expectations", len(result.results))),
        str(statistics.get("unsuccessful_expectations", "")),
        "" if percent is None else f"{percent:.1f} %",
        _batch_identifier(result),
    ]


def _index_document(title: str, rows: list[list[Any]], failed: int) -> Any:
    """The index page: a header with the tally, then one table row per result."""
    from great_expectations.render import (
        RenderedDocumentContent,
        RenderedHeaderContent,
        RenderedSectionContent,
        RenderedStringTemplateContent,
        RenderedTableContent,
    )

    header = RenderedHeaderContent(
        content_block_type="header",
        header=RenderedStringTemplateContent(
            content_block_type="string_template",
            string_template={
                "template": "$prefix | $title",
                "params": {"prefix": "Data Docs", "title": title},
                "styling": {"params": {"prefix": {"tag": "strong"}}},
            },
        ),
        subheader=f"{len(rows) - failed} of {len(rows)} validations succeeded, {failed} failed",
        styling={"classes": ["col-12"], "header": {"classes": ["alert", "alert-secondary"]}},
    )
    table = RenderedTableContent(
        header_row=["Status", "Expectation Suite", "Evaluated", "Failed", "Success", "Batch"],
        table=rows,
        styling={"classes": ["col-12"], "body": {"classes": ["table", "table-sm"]}},
    )
    section = RenderedSectionContent(section_name=title, content_blocks=[header, table])
    return RenderedDocumentContent(
        renderer_type="SiteIndexPageRenderer",
        sections=[section],
        utm_medium="index-page",
    )


class _LinkCollector(HTMLParser):
    """Collects the ``href`` and ``src`` attribute values of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links.extend(value for name, value in attrs if name in ("href", "src") and value)


def relative_links(page_path: str, html: bytes) -> set[str]:
    """Site paths (normalized, POSIX) that the page at ``page_path`` links by relative href/src.

    Anchors (``#...``) and URLs with a scheme or host are left out.
    """
    collector = _LinkCollector()
    collector.feed(html.decode("utf-8"))
    targets = set()
    for link in collector.links:
        parts = urlsplit(link)
        if parts.scheme or parts.netloc or not parts.path:
            continue
        target = posixpath.join(posixpath.dirname(page_path), unquote(parts.path))
        targets.add(posixpath.normpath(target))
    return targets


def _static_assets(site: dict[str, bytes]) -> dict[str, bytes]:
    """The files under ``static/`` that the pages link, the project's before Great
    Expectations' bundled ones."""
    sources = [
        resources.files("visionops.validation") / "data_docs_assets" / "static",
        resources.files("great_expectations.render.view") / "static",
    ]
    assets: dict[str, bytes] = {}
    for page_path in [path for path in site if path.endswith(".html")]:
        for target in relative_links(page_path, site[page_path]):
            parts = target.split("/")
            if target in site or target in assets or parts[0] != "static":
                continue
            found = [source.joinpath(*parts[1:]) for source in sources]
            file = next((source for source in found if source.is_file()), None)
            if file is not None:
                assets[target] = file.read_bytes()
    return assets
