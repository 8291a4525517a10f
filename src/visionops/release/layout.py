"""Where a registered version keeps its release files, beside its lineage record.

::

    <version>/assets.extra/model_card.md        the model card, Markdown
    <version>/assets.extra/model_card.html      the same, one offline HTML page
    <version>/assets.extra/model_card.cdx.json  the same, a CycloneDX 1.6 ML-BOM
    <version>/assets.extra/sbom.cdx.json        the locked environment, CycloneDX 1.6
    <version>/assets.extra/signing_key.pem      the public key the version verifies with
    <version>/assets.extra/model.sig            the signature (a Sigstore bundle) over
                                                every other file of the version

``assets.extra`` is where TensorFlow Serving lets a version keep files of its own. The
signature covers the card, the SBOM, the public key and ``lineage.json``; only the
signature file itself is outside it.
"""

from __future__ import annotations

from pathlib import Path

EXTRA = Path("assets.extra")
CARD_MARKDOWN = EXTRA / "model_card.md"
CARD_HTML = EXTRA / "model_card.html"
CARD_CYCLONEDX = EXTRA / "model_card.cdx.json"
SBOM_FILE = EXTRA / "sbom.cdx.json"
PUBLIC_KEY_FILE = EXTRA / "signing_key.pem"
SIGNATURE_FILE = EXTRA / "model.sig"
