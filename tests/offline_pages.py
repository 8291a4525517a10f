"""outside_references: what the HTML pages in a folder would load from elsewhere.

A report folder opened on a machine without network shows exactly what it holds; a
stylesheet, script, image or font it names by URL (or by a path that climbs out of the
folder) is missing there. Tests call ``outside_references(folder)`` on whatever a stage
writes, e.g. ``data/08_reporting``, and expect an empty list.
"""

from __future__ import annotations

import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# <link rel=...> values that make the browser fetch the linked file.
LOADING_RELS = frozenset(
    {"stylesheet", "icon", "shortcut", "apple-touch-icon", "mask-icon", "manifest"}
    | {"preload", "modulepreload", "prefetch"}
)
# Attributes that load a file, per tag; srcset holds a list of URLs.
LOADING_ATTRIBUTES = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "iframe": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
    "image": ("href", "xlink:href"),
}
CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)
CSS_IMPORT = re.compile(r"""@import\s+(['"])(.*?)\1""", re.IGNORECASE)


def outside_references(folder: Path) -> list[str]:
    """Every file that a page or stylesheet under ``folder`` loads from outside it.

    Checks ``.html``/``.htm`` pages (``<link rel=stylesheet|icon|preload ...>``, ``<script
    src>``, ``<img>``/``<source>`` ``src`` and ``srcset``, media, frames, ``style``
    attributes and ``<style>`` blocks) and ``.css`` files (``url(...)``, ``@import``). A
    reference is outside when it is a URL with a scheme or host (``https://``, ``//cdn``,
    ``file:``; ``data:`` is inline and fine) or a relative path that climbs out of
    ``folder``. Plain ``<a href>`` links are navigation, not loads, and are left alone.

    Returns:
        ``"<file>: <what> <reference>"`` lines, sorted; empty when the folder is self-contained.
    """
    found = []
    for file in sorted(folder.rglob("*")):
        if not file.is_file() or file.suffix.lower() not in (".html", ".htm", ".css"):
            continue
        relative = file.relative_to(folder).as_posix()
        text = file.read_text(encoding="utf-8", errors="replace")
        if file.suffix.lower() == ".css":
            loads = _css_loads(text, "stylesheet")
        else:
            collector = _LoadCollector()
            collector.feed(text)
            collector.close()
            loads = collector.loads
        found.extend(
            f"{relative}: {what} {reference}"
            for what, reference in loads
            if _is_outside(reference, relative)
        )
    return sorted(found)


class _LoadCollector(HTMLParser):
    """Collects (what, reference) for each file an HTML page makes the browser load."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[tuple[str, str]] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link":
            rels = set(values.get("rel", "").lower().split())
            if rels & LOADING_RELS and values.get("href"):
                self.loads.append((f"<link rel={' '.join(sorted(rels))}>", values["href"]))
        for name in LOADING_ATTRIBUTES.get(tag, ()):
            if values.get(name):
                urls = _srcset_urls(values[name]) if name == "srcset" else [values[name]]
                self.loads.extend((f"<{tag} {name}>", url) for url in urls)
        if values.get("style"):
            self.loads.extend(_css_loads(values["style"], f"<{tag} style>"))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.loads.extend(_css_loads(data, "<style>"))


def _css_loads(css: str, where: str) -> list[tuple[str, str]]:
    """(what, reference) for each ``url(...)`` and ``@import`` in a piece of CSS."""
    urls = [(f"{where} url()", match.group(2).strip()) for match in CSS_URL.finditer(css)]
    imports = [(f"{where} @import", match.group(2).strip()) for match in CSS_IMPORT.finditer(css)]
    return urls + imports


def _srcset_urls(srcset: str) -> list[str]:
    """The URLs of a ``srcset`` (``"a.png 1x, b.png 2x"``)."""
    return [candidate.split()[0] for candidate in srcset.split(",") if candidate.strip()]


def _is_outside(reference: str, page: str) -> bool:
    """Whether loading ``reference`` from the file at ``page`` leaves the folder."""
    if not reference or reference.startswith("#"):
        return False
    parts = urlsplit(reference)
    if parts.scheme or parts.netloc:
        return parts.scheme.lower() != "data"
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), unquote(parts.path)))
    return target == ".." or target.startswith(("../", "/"))
