"""Who may write: the bearer tokens of the endpoints that change state.

Feedback labels become training data, so writing them needs a token. Tokens come from
the environment variable ``VISIONOPS_WRITE_TOKEN`` (its sender is named
``VISIONOPS_WRITE_TOKEN``) and from ``conf/local/credentials.yml`` (git-ignored), one
per sender::

    visionops_write_tokens:
      labelling-team: "a long random string"

Never from a committed file: a ``credentials.yml`` under conf/base is refused. With no
token configured, the writing endpoints are off and say so. A token is compared in
constant time; what is recorded of a writer is the sender's name, never the token.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from visionops.errors import ConfigError

TOKEN_VARIABLE = "VISIONOPS_WRITE_TOKEN"
CREDENTIALS_FILE = "credentials.yml"
CREDENTIALS_KEY = "visionops_write_tokens"
MIN_TOKEN_LENGTH = 16
MISSING, WRONG, DISABLED = "missing", "wrong", "disabled"


class AuthError(Exception):
    """A write refused: ``reason`` is :data:`MISSING`, :data:`WRONG` or :data:`DISABLED`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _check_token(sender: str, token: object, where: str) -> str:
    if not isinstance(token, str) or len(token.strip()) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"the write token of {sender!r} in {where} must be a string of at least "
            f"{MIN_TOKEN_LENGTH} characters (e.g. from `openssl rand -hex 32`)"
        )
    return token.strip()


def _file_tokens(project_dir: Path) -> dict[str, str]:
    committed = project_dir / "conf" / "base" / CREDENTIALS_FILE
    if committed.is_file():
        raise ConfigError(
            f"{committed} would commit credentials; move it to conf/local/{CREDENTIALS_FILE}, "
            "which git ignores"
        )
    path = project_dir / "conf" / "local" / CREDENTIALS_FILE
    if not path.is_file():
        return {}
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path} cannot be read as YAML: {error}") from error
    entries = content.get(CREDENTIALS_KEY) if isinstance(content, dict) else None
    if entries is None:
        return {}
    if not isinstance(entries, dict):
        raise ConfigError(f"{CREDENTIALS_KEY} in {path} must map each sender's name to a token")
    return {str(name): _check_token(str(name), token, str(path)) for name, token in entries.items()}


@dataclass(frozen=True)
class WriteTokens:
    """The tokens that may write, by sender name."""

    tokens: dict[str, str]

    @property
    def enabled(self) -> bool:
        """Whether any token is configured (else the writing endpoints are off)."""
        return bool(self.tokens)

    def sender(self, authorization: str | None) -> str:
        """The sender whose token an ``Authorization: Bearer <token>`` header carries.

        Raises:
            AuthError: No token is configured, the header is missing or not a bearer
                token, or the token is nobody's.
        """
        if not self.enabled:
            raise AuthError(
                DISABLED,
                "writing is off on this server: no write token is configured; set "
                f"{TOKEN_VARIABLE} or {CREDENTIALS_KEY} in conf/local/{CREDENTIALS_FILE}, "
                "then restart it",
            )
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(
                MISSING, "this endpoint needs a write token: send 'Authorization: Bearer <token>'"
            )
        offered = token.strip().encode()
        found = None
        for name, expected in self.tokens.items():  # every token compared: no timing hint
            if hmac.compare_digest(offered, expected.encode()):
                found = name
        if found is None:
            raise AuthError(WRONG, "the write token is not valid")
        return found


def load_write_tokens(project_dir: Path) -> WriteTokens:
    """The write tokens of a project: conf/local/credentials.yml and ``$VISIONOPS_WRITE_TOKEN``.

    Raises:
        ConfigError: A token is too short, or credentials sit in a committed file.
    """
    tokens = _file_tokens(Path(project_dir))
    value = os.environ.get(TOKEN_VARIABLE, "")
    if value.strip():
        tokens[TOKEN_VARIABLE] = _check_token(TOKEN_VARIABLE, value, f"${TOKEN_VARIABLE}")
    return WriteTokens(tokens)
