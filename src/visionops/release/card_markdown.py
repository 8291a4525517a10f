"""The model card as Markdown (``model_card.md``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from visionops.release.card_sections import (
    Block,
    Table,
    card_sections,
    card_subtitle,
    card_title,
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _block(block: Block) -> str:
    if isinstance(block, Table):
        lines = [
            "| " + " | ".join(block.header) + " |",
            "|" + "---|" * len(block.header),
            *("| " + " | ".join(_cell(cell) for cell in row) + " |" for row in block.rows),
        ]
        return "\n".join(lines)
    if isinstance(block, list):
        return "\n".join(f"- {item}" for item in block)
    return block


def render_markdown(card: Mapping[str, Any]) -> str:
    """The card as one Markdown document."""
    parts = [f"# {card_title(card)}", card_subtitle(card)]
    for section in card_sections(card):
        parts.append(f"## {section.title}")
        parts += [_block(block) for block in section.blocks]
    return "\n\n".join(parts) + "\n"
