"""``MODEL``, ``MODEL:VERSION`` and ``MODEL@LABEL``: one reading for every models action."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionops.errors import RegistryError
from visionops.registry.reference import (
    ModelReference,
    parse_reference,
    resolve_reference,
    resolve_version,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("digits", ModelReference("digits")),
        ("digits:3", ModelReference("digits", version=3)),
        ("digits@production", ModelReference("digits", label="production")),
        ("my.model-2:10", ModelReference("my.model-2", version=10)),
    ],
)
def test_the_three_forms(text: str, expected: ModelReference) -> None:
    assert parse_reference(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("digits:two", "put a version number after ':'"),
        ("digits:", "put a version number after ':'"),
        (":3", "put a version number after ':'"),
        ("digits@", "after '@' put a label"),
        ("digits@9lives", "after '@' put a label"),
        ("my digits", "a model's name has no spaces"),
        ("", "a model's name has no spaces"),
    ],
)
def test_bad_text_is_named_with_the_forms_accepted(text: str, hint: str) -> None:
    with pytest.raises(RegistryError) as raised:
        parse_reference(text)
    message = str(raised.value)
    assert message.startswith(f"{text!r} is not a model reference")
    assert hint in message
    assert "MODEL, MODEL:VERSION or MODEL@LABEL" in message


def test_a_label_resolves_to_its_version(three_productions: Path) -> None:
    assert resolve_reference(three_productions, "digits@production") == ("digits", 3)
    assert resolve_reference(three_productions, "digits") == ("digits", None)
    assert resolve_version(three_productions, "digits:2", "approve") == ("digits", 2)
    with pytest.raises(RegistryError, match="say which version to approve: digits:VERSION"):
        resolve_version(three_productions, "digits", "approve")
    with pytest.raises(RegistryError, match="no model 'pets'"):
        resolve_reference(three_productions, "pets@production")
