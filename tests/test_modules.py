"""Every module of the package imports on its own and says its job in its first line."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

SOURCE = Path(__file__).parents[1] / "src"
MODULES = sorted(
    ".".join(path.relative_to(SOURCE).with_suffix("").parts).removesuffix(".__init__")
    for path in (SOURCE / "visionops").rglob("*.py")
)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_and_says_its_job(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__, f"{name} has no docstring"
    assert module.__doc__.strip().splitlines()[0].strip(), f"{name}'s first line is empty"
