"""The HTML reports read offline: nothing they load comes from outside their folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from offline_pages import outside_references
from visionops.config import read_parameters
from visionops.dataplane.ingest import write_arrays
from visionops.dataplane.reader import ShardedDataset
from visionops.datasets import FileTreeDataset
from visionops.image_dataset import ImageDataset
from visionops.pipelines.data_validation.nodes import validate_images
from visionops.validation.data_docs import relative_links

ROOT = Path(__file__).parents[1]
STYLESHEET = "static/styles/data_docs.css"


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize(
    "markup",
    [
        '<link rel="stylesheet" href="https://cdn.example/bootstrap.min.css">',
        '<link rel="icon" href="http://cdn.example/favicon.ico">',
        '<link rel="preload" as="font" href="//fonts.example/inter.woff2">',
        '<script src="https://code.example/jquery.min.js"></script>',
        '<img src="https://assets.example/logo.png" alt="logo">',
        '<img src="local.png" srcset="local.png 1x, https://assets.example/logo@2x.png 2x">',
        '<picture><source src="https://assets.example/logo.webp"></picture>',
        "<style>@import 'https://fonts.example/css2?family=Inter';</style>",
        "<style>a { background: url('https://assets.example/dark.png') }</style>",
        '<div style="background-image: url(//assets.example/bg.png)"></div>',
        '<link rel="stylesheet" href="../../elsewhere.css">',
        '<script src="file:///usr/share/javascript/jquery.js"></script>',
    ],
)
def test_outside_references_finds_each_kind_of_load(tmp_path: Path, markup: str) -> None:
    _write(tmp_path, {"site/pages/page.html": f"<html><head>{markup}</head></html>"})
    found = outside_references(tmp_path / "site")
    assert len(found) == 1 and found[0].startswith("pages/page.html: "), found


def test_outside_references_checks_stylesheets_too(tmp_path: Path) -> None:
    css = "@font-face { font-family: Inter; src: url('https://fonts.example/inter.woff2'); }"
    _write(tmp_path, {"styles/site.css": css})
    assert outside_references(tmp_path) == [
        "styles/site.css: stylesheet url() https://fonts.example/inter.woff2"
    ]


def test_links_inline_data_and_files_inside_are_not_outside(tmp_path: Path) -> None:
    page = """<html><head>
      <link rel="stylesheet" href="static/site.css">
      <link rel="preconnect" href="https://fonts.example">
      <style>.logo { background: url("data:image/png;base64,iVBORw0KGgo=") }</style>
    </head><body>
      <a href="https://greatexpectations.io">Great Expectations</a>
      <a href="//example.org/help">help</a>
      <img src="static/logo.png"><svg><use href="#icon"/></svg>
      <script>const home = "https://example.org";</script>
    </body></html>"""
    _write(tmp_path, {"index.html": page, "static/site.css": "svg { fill: url(#shade) }"})
    assert outside_references(tmp_path) == []


def _small_dataset(per_class: int = 12) -> ImageDataset:
    """Distinct noise images of three classes: valid images, too few for ``min_rows``."""
    rng = np.random.default_rng(7)
    count = 3 * per_class
    return ImageDataset(
        images=rng.integers(0, 256, size=(count, 16, 16, 3), dtype=np.uint8),
        labels=np.repeat(np.arange(3), per_class).astype(np.int64),
        class_names=("cloud", "forest", "sea"),
        source_ids=np.asarray([f"synthetic:{index}" for index in range(count)]),
    )


def _suite(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "conf" / "base" / "expectations" / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def data_docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Data Docs the validation node renders, saved as the catalog saves them."""
    params = read_parameters(ROOT)["data_validation"]
    suites = [_suite(name) for name in ("images", "dataset", "classes")]
    folder = tmp_path_factory.mktemp("raw") / "raw_dataset"
    write_arrays(_small_dataset(), folder)
    report, _, _, site, _ = validate_images(ShardedDataset(folder), *suites, None, params)
    assert not report["success"], "the small dataset should fail min_rows, to show a failure"
    folder = tmp_path_factory.mktemp("reporting") / "data_docs"
    FileTreeDataset(path=str(folder)).save(site)
    return folder


def test_data_docs_load_nothing_from_outside_their_folder(data_docs: Path) -> None:
    """Opened on a machine without network, the pages have every file they load."""
    assert outside_references(data_docs.parent) == []


def test_each_data_docs_page_is_styled_by_the_stylesheet_it_ships(data_docs: Path) -> None:
    pages = sorted(data_docs.rglob("*.html"))
    assert len(pages) >= 4  # the index, a validation page and a suite page per suite
    for page in pages:
        path = page.relative_to(data_docs).as_posix()
        assert STYLESHEET in relative_links(path, page.read_bytes()), path
    stylesheet = (data_docs / STYLESHEET).read_text()
    for rule in (".table", ".alert-secondary", ".text-danger", ".text-success", ".col-md-10"):
        assert rule in stylesheet
    assert (data_docs / "static" / "images" / "logo-long.png").stat().st_size > 0


def test_data_docs_pages_run_no_script(data_docs: Path) -> None:
    """What needed jQuery or Bootstrap's script works without: blocks fold as <details>."""
    pages = {page.relative_to(data_docs): page.read_text() for page in data_docs.rglob("*.html")}
    assert not [name for name, html in pages.items() if "<script" in html]
    validation_pages = [html for html in pages.values() if "Expectation Validation Result" in html]
    assert validation_pages and all("<details" in html for html in validation_pages)
    assert not any('data-toggle="collapse"' in html for html in pages.values())
