"""What registration adds to a version before it is renamed into place.

:func:`prepare_release` runs before anything is written, so a bad card setting or
signing key stops a registration at once. :func:`write_release_files` then writes the
SBOM, the public key and the model card (Markdown, HTML, CycloneDX) into the staging
folder, before the lineage record lists its files (the record itself is left as the
deployment stage made it); :func:`sign_release` signs last,
once ``lineage.json`` is written, so the signature covers every file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from visionops.release.card import build_card
from visionops.release.card_html import render_html
from visionops.release.card_markdown import render_markdown
from visionops.release.cyclonedx import card_bom
from visionops.release.layout import (
    CARD_CYCLONEDX,
    CARD_HTML,
    CARD_MARKDOWN,
    PUBLIC_KEY_FILE,
    SBOM_FILE,
    SIGNATURE_FILE,
)
from visionops.release.sbom import environment_sbom
from visionops.release.settings import CardText, load_card_text
from visionops.release.signing import (
    SigningKey,
    fingerprint,
    project_signing_key,
    sign_version,
    write_public_key,
)


@dataclass(frozen=True)
class Release:
    """What every version registered by one run is published with.

    Attributes:
        key: The signing key.
        card_text: The card's words for the model.
        sbom: The environment's SBOM.
    """

    key: SigningKey
    card_text: CardText
    sbom: dict[str, Any]


def prepare_release(project_dir: Path, model_name: str) -> Release:
    """Reads the card's words, the signing key (made on first use) and the SBOM.

    Raises:
        ConfigError: conf/base/release_card.yml, signing.yml or the key is invalid.
    """
    return Release(
        key=project_signing_key(project_dir),
        card_text=load_card_text(project_dir, model_name),
        sbom=environment_sbom(project_dir),
    )


def release_summary(public_pem: bytes, sbom: dict[str, Any]) -> dict[str, Any]:
    """What the card says of the version's signature, SBOM and environment.

    Kept out of ``lineage.json``, which stays the record of what produced the version:
    everything here is read back from the version's own files (:func:`stored_summary`).
    """
    properties = {p["name"]: p["value"] for p in sbom["metadata"]["properties"]}
    return {
        "signing": {
            "method": f"model-signing {installed_version('model-signing')}, elliptic-curve "
            "key, Sigstore bundle",
            "public_key_sha256": fingerprint(public_pem),
            "public_key": PUBLIC_KEY_FILE.as_posix(),
            "signature": SIGNATURE_FILE.as_posix(),
        },
        "sbom": {
            "file": SBOM_FILE.as_posix(),
            "components": len(sbom["components"]),
            "source": properties.get("visionops:source"),
            "lock_sha256": properties.get("visionops:lock_sha256"),
        },
        "environment": {
            "python": properties.get("visionops:python"),
            "platform": properties.get("visionops:platform"),
        },
    }


def stored_summary(folder: Path) -> dict[str, Any]:
    """:func:`release_summary` of a registered version, from its files; ``{}`` for a
    version registered before versions carried them (or with them damaged)."""
    try:
        public_pem = (folder / PUBLIC_KEY_FILE).read_bytes()
        sbom = json.loads((folder / SBOM_FILE).read_text())
        summary = release_summary(public_pem, sbom)
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not (folder / SIGNATURE_FILE).is_file():
        summary["signing"] = {}
    return summary


def write_card_files(folder: Path, card: dict[str, Any]) -> None:
    """Writes the card as Markdown, HTML and CycloneDX JSON into the version ``folder``."""
    (folder / CARD_MARKDOWN).parent.mkdir(parents=True, exist_ok=True)
    (folder / CARD_MARKDOWN).write_text(render_markdown(card))
    (folder / CARD_HTML).write_text(render_html(card))
    (folder / CARD_CYCLONEDX).write_text(json.dumps(card_bom(card), indent=2) + "\n")


def write_release_files(
    folder: Path,
    model_name: str,
    version: int,
    lineage: dict[str, Any],
    data_profile: dict[str, Any] | None,
    labels: Sequence[str],
    release: Release,
) -> None:
    """Writes the SBOM, the public key and the card into a version being registered.

    The card lists no approvals: none can exist before the version does. Its
    signature part is what :func:`sign_release` will make.
    """
    (folder / SBOM_FILE).parent.mkdir(parents=True, exist_ok=True)
    (folder / SBOM_FILE).write_text(json.dumps(release.sbom, indent=2) + "\n")
    write_public_key(folder, release.key)
    summary = release_summary(release.key.public_pem, release.sbom)
    card = build_card(
        model_name, version, lineage, data_profile, [], release.card_text, labels, summary
    )
    write_card_files(folder, card)


def sign_release(folder: Path, release: Release) -> None:
    """Signs the version ``folder``: the last file written before it is renamed in."""
    sign_version(folder, release.key)
