"""The release settings: the model card's words and where the signing key is.

``conf/base/release_card.yml`` holds what no record can: what a model is for, who uses
it, where it fails. A ``models.<model name>`` section is laid over the top-level words
for that model. ``conf/base/signing.yml`` (a team's trusted public key, committed) and
``conf/local/signing.yml`` (the private key's path, never committed) say how versions
are signed; ``VISIONOPS_SIGNING_KEY`` names the private key instead. conf/local files
are laid over conf/base ones key by key. Every value is checked here, naming the key
and the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionops.config import merged, read_settings_file
from visionops.errors import ConfigError

CARD_FILE = "release_card.yml"
SIGNING_FILE = "signing.yml"
KEY_VARIABLE = "VISIONOPS_SIGNING_KEY"
PASSWORD_VARIABLE = "VISIONOPS_SIGNING_KEY_PASSWORD"
# Where a project without a configured key keeps the one made for it (git-ignored).
GENERATED_KEY = Path("conf") / "local" / "signing" / "private_key.pem"

CARD_TEXT_KEYS = (
    "intended_users",
    "use_cases",
    "out_of_scope",
    "limitations",
    "tradeoffs",
)
CARD_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(CARD_TEXT_KEYS, []),
    "ethical_considerations": [],
    "worst_classes": 3,
}
SIGNING_DEFAULTS: dict[str, Any] = {"private_key": None, "trusted_public_key": None}


@dataclass(frozen=True)
class CardText:
    """The words of a model card that come from configuration.

    Attributes:
        intended_users: Who the model is for.
        use_cases: What it is meant to do.
        out_of_scope: What it must not be used for.
        limitations: Where it is known to fail.
        tradeoffs: What was given up for what.
        ethical_considerations: ``(risk, mitigation)`` pairs.
        worst_classes: How many of the lowest-scoring classes the card lists.
    """

    intended_users: tuple[str, ...] = ()
    use_cases: tuple[str, ...] = ()
    out_of_scope: tuple[str, ...] = ()
    limitations: tuple[str, ...] = ()
    tradeoffs: tuple[str, ...] = ()
    ethical_considerations: tuple[tuple[str, str], ...] = ()
    worst_classes: int = 3


@dataclass(frozen=True)
class SigningSettings:
    """Where the signing keys are.

    Attributes:
        private_key: The EC private key (PEM) that signs new versions; None when none
            is configured (a key is then made under :data:`GENERATED_KEY`).
        password: The private key's password, from ``VISIONOPS_SIGNING_KEY_PASSWORD``.
        trusted_public_key: The one public key (PEM) versions must verify with; None
            accepts the key each version carries.
        where: The file (or variable) the private key came from, for messages.
    """

    private_key: Path | None
    password: str | None
    trusted_public_key: Path | None
    where: str


def _read(project_dir: Path, name: str, defaults: dict[str, Any]) -> dict[str, Any]:
    conf = Path(project_dir) / "conf"
    # Nested values (a model's card section) are checked by the callers.
    base = read_settings_file(conf / "base" / name, defaults, nested=False)
    local = read_settings_file(conf / "local" / name, defaults, nested=False)
    return merged(merged(defaults, base), local)


def _strings(values: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = values.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{key} in {where} must be a list of sentences; got {value!r}")
    return tuple(" ".join(item.split()) for item in value)


def load_card_text(project_dir: Path, model_name: str) -> CardText:
    """The card's words for ``model_name``: the top level, its ``models`` section over it.

    Raises:
        ConfigError: A setting is unknown or not a list of sentences.
    """
    known = {**CARD_DEFAULTS, "models": {}}
    values = _read(project_dir, CARD_FILE, known)
    where = str(Path(project_dir) / "conf" / "base" / CARD_FILE)
    models = values.pop("models", None) or {}
    if not isinstance(models, dict):
        raise ConfigError(f"models in {where} must map model names to card settings")
    section = models.get(model_name) or {}
    unknown = sorted(set(section) - set(CARD_DEFAULTS)) if isinstance(section, dict) else None
    if unknown is None or unknown:
        raise ConfigError(
            f"models.{model_name} in {where} must be a mapping of "
            f"{', '.join(CARD_DEFAULTS)}; unknown: {unknown}"
        )
    values = {**values, **section}
    risks = []
    for entry in values.get("ethical_considerations") or []:
        keys = set(entry) if isinstance(entry, dict) else set()
        if "risk" not in keys or keys - {"risk", "mitigation"}:
            raise ConfigError(
                f"each of ethical_considerations in {where} must be "
                f"{{risk: ..., mitigation: ...}}; got {entry!r}"
            )
        risks.append((str(entry["risk"]), str(entry.get("mitigation") or "")))
    worst = values.get("worst_classes")
    if isinstance(worst, bool) or not isinstance(worst, int) or worst < 0:
        raise ConfigError(f"worst_classes in {where} must be a whole number >= 0; got {worst!r}")
    return CardText(
        **{key: _strings(values, key, where) for key in CARD_TEXT_KEYS},
        ethical_considerations=tuple(risks),
        worst_classes=worst,
    )


def load_trusted_key(project_dir: Path) -> Path | None:
    """The one public key versions must verify with (``trusted_public_key``), or None.

    Raises:
        ConfigError: signing.yml is invalid, or the key it names does not exist.
    """
    project_dir = Path(project_dir)
    values = _read(project_dir, SIGNING_FILE, SIGNING_DEFAULTS)
    value = values.get("trusted_public_key")
    if value is None:
        return None
    path = project_dir / value if isinstance(value, str) and value else None
    if path is None or not path.is_file():
        raise ConfigError(
            f"trusted_public_key in conf/base or conf/local {SIGNING_FILE} of {project_dir} "
            f"is {value!r}, which is not a file; point it at the team's PEM public key"
        )
    return path


def load_signing_settings(project_dir: Path) -> SigningSettings:
    """Where the signing keys are: ``VISIONOPS_SIGNING_KEY``, else signing.yml.

    Relative paths are taken from ``project_dir``.

    Raises:
        ConfigError: A setting is unknown, not a path, or names a missing file.
    """
    project_dir = Path(project_dir)
    values = _read(project_dir, SIGNING_FILE, SIGNING_DEFAULTS)
    where = f"conf/base or conf/local {SIGNING_FILE} of {project_dir}"
    paths: dict[str, Path | None] = {}
    for key in SIGNING_DEFAULTS:
        value = values.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{key} in {where} must be a file path; got {value!r}")
        paths[key] = project_dir / value if value else None
    private_key, origin = paths["private_key"], f"private_key in {where}"
    if os.environ.get(KEY_VARIABLE):
        private_key, origin = project_dir / os.environ[KEY_VARIABLE], KEY_VARIABLE
    for key, path, named in (
        ("private_key", private_key, origin),
        ("trusted_public_key", paths["trusted_public_key"], f"trusted_public_key in {where}"),
    ):
        if path is not None and not path.is_file():
            raise ConfigError(
                f"{named} names {path}, which does not exist; point it at a PEM "
                f"{'private' if key == 'private_key' else 'public'} key file"
            )
    return SigningSettings(
        private_key=private_key,
        password=os.environ.get(PASSWORD_VARIABLE) or None,
        trusted_public_key=paths["trusted_public_key"],
        where=origin,
    )
