"""How a user names a model or one of its versions: ``MODEL``, ``MODEL:VERSION``, ``MODEL@LABEL``.

Every ``visionops models`` action that takes a model reference reads it here, so the
forms and the messages are the same everywhere.
:func:`parse_reference` checks the text alone; :func:`resolve_reference` looks a label
up in the registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from visionops.errors import RegistryError
from visionops.registry.history import require_model, resolve_label

FORMS = "MODEL, MODEL:VERSION or MODEL@LABEL (e.g. digits, digits:3, digits@production)"
# A label names a version in models.config: a letter, then letters, digits, '_' or '-'.
LABEL_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_MODEL = re.compile(r"[^\s:@/]+")


@dataclass(frozen=True)
class ModelReference:
    """A model, and at most one of a version number or a label.

    Attributes:
        model: The model's name.
        version: The version number, for ``MODEL:VERSION``.
        label: The label, for ``MODEL@LABEL``.
    """

    model: str
    version: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.model}:{self.version}"
        return f"{self.model}@{self.label}" if self.label else self.model


def parse_reference(text: str) -> ModelReference:
    """Reads ``MODEL``, ``MODEL:VERSION`` or ``MODEL@LABEL``.

    Raises:
        RegistryError: ``text`` is none of these; the message names the text and the
            forms accepted.
    """
    model, at, label = text.rpartition("@")
    if at:
        if not _MODEL.fullmatch(model) or not LABEL_PATTERN.fullmatch(label):
            raise _not_a_reference(text, "after '@' put a label such as production")
        return ModelReference(model, label=label)
    model, colon, version = text.rpartition(":")
    if not colon:
        if not _MODEL.fullmatch(text):
            raise _not_a_reference(text, "a model's name has no spaces, ':', '@' or '/'")
        return ModelReference(text)
    if not _MODEL.fullmatch(model) or not version.isdigit():
        raise _not_a_reference(text, f"put a version number after ':', e.g. {model or 'digits'}:3")
    return ModelReference(model, version=int(version))


def resolve_reference(root: Path, text: str) -> tuple[str, int | None]:
    """The model and the version ``text`` names in the registry at ``root``.

    Returns:
        The model's name, and the version (``MODEL:VERSION``, or the one ``MODEL@LABEL``
        points at) or ``None`` for a bare ``MODEL``.

    Raises:
        RegistryError: ``text`` is not a reference, the model is unknown, or it has no
            such label.
    """
    reference = parse_reference(text)
    if reference.label is not None:
        return reference.model, resolve_label(root, reference.model, reference.label)
    if reference.version is None:
        require_model(root, reference.model)
    return reference.model, reference.version


def resolve_version(root: Path, text: str, purpose: str) -> tuple[str, int]:
    """Like :func:`resolve_reference`, for commands that need one version.

    Args:
        root: The registry's root folder.
        text: The reference.
        purpose: What the version is for, e.g. ``"promote"``, for the message.

    Raises:
        RegistryError: As :func:`resolve_reference`, or ``text`` names no version.
    """
    model, version = resolve_reference(root, text)
    if version is None:
        raise RegistryError(f"say which version to {purpose}: {model}:VERSION or {model}@LABEL")
    return model, version


def _not_a_reference(text: str, hint: str) -> RegistryError:
    return RegistryError(f"{text!r} is not a model reference: {hint}; use {FORMS}")
