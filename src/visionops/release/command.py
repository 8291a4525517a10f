"""What ``visionops models card MODEL[:VERSION|@LABEL]`` prints.

The card is written afresh from the version's record, its data profile, the audit log
and the card's words in conf/, so approvals given since registration show, and the
labels are those of now. The copy stored in the version at registration stays as it
was signed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from visionops.errors import ConfigError
from visionops.lineage.record import load_record, resolve_version
from visionops.registry.command import REFERENCE, registry_options
from visionops.registry.events import read_events
from visionops.registry.layout import DATA_PROFILE_FILE, read_labels, version_dir
from visionops.release.card import build_card
from visionops.release.card_html import render_html
from visionops.release.card_markdown import render_markdown
from visionops.release.cyclonedx import card_bom
from visionops.release.publish import stored_summary
from visionops.release.settings import load_card_text

FORMATS = ("md", "html", "cyclonedx")


def current_card(registry: Path, reference: str, project_dir: Path) -> dict[str, Any]:
    """The card of the version ``reference`` names, as the registry stands now.

    Raises:
        RegistryError: The model, version or label does not exist, or a record is damaged.
        ConfigError: conf/base/release_card.yml is invalid.
    """
    model, version = resolve_version(registry, reference)
    record = load_record(registry, model, version)
    profile_path = version_dir(registry, model, version) / DATA_PROFILE_FILE
    try:
        profile = json.loads(profile_path.read_text()) if profile_path.is_file() else None
    except ValueError:
        profile = None  # the card then says the class balance is not recorded
    labels = sorted(
        label for label, at in read_labels(registry).get(model, {}).items() if at == version
    )
    text = load_card_text(project_dir, model)
    events = read_events(registry, model)
    summary = stored_summary(version_dir(registry, model, version))
    return build_card(model, version, record, profile, events, text, labels, summary)


def card_command(
    registry: Path, reference: str, output: str = "md", project_dir: Path = Path(".")
) -> int:
    """Prints the card as Markdown (``md``), an HTML page or CycloneDX JSON."""
    if output not in FORMATS:
        raise ConfigError(f"--format {output!r} is not one of {', '.join(FORMATS)}")
    card = current_card(registry, reference, project_dir)
    if output == "html":
        print(render_html(card), end="")
    elif output == "cyclonedx":
        print(json.dumps(card_bom(card), indent=2))
    else:
        print(render_markdown(card), end="")
    return 0


def add_card_parser(actions: argparse._SubParsersAction) -> None:
    """Adds ``card`` to the actions of ``visionops models`` (see
    :func:`visionops.registry.command.add_models_parser`)."""
    card = actions.add_parser(
        "card",
        parents=[registry_options()],
        help="print a version's model card, written afresh (approvals given since show)",
    )
    card.add_argument("reference", metavar=REFERENCE)
    card.add_argument(
        "--format",
        dest="card_format",
        choices=FORMATS,
        default="md",
        help="md (Markdown), html (one offline page) or cyclonedx (CycloneDX 1.6 JSON); "
        "default: md",
    )
    card.set_defaults(
        handler=lambda args: card_command(
            Path(args.registry), args.reference, args.card_format, Path(args.project_dir)
        )
    )
