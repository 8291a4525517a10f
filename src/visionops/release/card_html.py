"""The model card as one offline HTML page (``model_card.html``).

Everything is inline: the style sheet is in the page and nothing is fetched, so the
page reads the same on a machine without a network, years later.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from visionops.release.card_sections import (
    Block,
    Table,
    card_sections,
    card_subtitle,
    card_title,
)

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #d0d0d5; padding-bottom: 0.2rem;
     margin-top: 2rem; }
p.subtitle { color: #55555a; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #d0d0d5; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f6; }
td { font-variant-numeric: tabular-nums; }
code { background: #f3f3f6; padding: 0 0.2rem; }
"""


def _block(block: Block) -> str:
    if isinstance(block, Table):
        head = "".join(f"<th>{escape(cell)}</th>" for cell in block.header)
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
            for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if isinstance(block, list):
        return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in block) + "</ul>"
    return f"<p>{escape(block)}</p>"


def render_html(card: Mapping[str, Any]) -> str:
    """The card as a self-contained HTML page: inline CSS, no external address."""
    title = escape(card_title(card))
    body = [f"<h1>{title}</h1>", f'<p class="subtitle">{escape(card_subtitle(card))}</p>']
    for section in card_sections(card):
        body.append(f"<h2>{escape(section.title)}</h2>")
        body += [_block(block) for block in section.blocks]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
