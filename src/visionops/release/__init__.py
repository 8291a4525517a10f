"""Audit-ready releases: each registered version's model card, SBOM and signature.

- ``layout``: where a version keeps its card, SBOM, public key and signature.
- ``settings``: the card's words (conf/base/release_card.yml) and the signing key.
- ``card``: the card's contents, from the lineage record, data profile and audit log.
- ``card_markdown``, ``card_html``, ``cyclonedx``: the card as Markdown, offline HTML
  and a CycloneDX 1.6 ML-BOM.
- ``sbom``: the locked environment (requirements.lock) as a CycloneDX 1.6 SBOM.
- ``signing``: signing a version folder and verifying it (OpenSSF model-signing).
- ``publish``: what registration writes into a version before it is renamed into place.
- ``command``: what ``visionops models card`` prints.
"""
