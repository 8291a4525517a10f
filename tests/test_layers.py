"""Capability packages hold the logic and never reach up into the Kedro adapters.

``datasets/`` (Kedro datasets), ``pipelines/`` (nodes and wiring), ``hooks.py``,
``settings.py`` and ``console.py`` sit on top of the capability packages; a capability
package that imported them would tie the logic to Kedro and to the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "visionops"
CAPABILITIES = (
    "containers",
    "dataplane",
    "evaluation",
    "lineage",
    "modeling",
    "monitoring",
    "registry",
    "scheduling",
    "serving",
    "sources",
    "validation",
)
ABOVE = (
    "datasets",
    "pipelines",
    "hooks",
    "deployment_hooks",
    "settings",
    "console",
    "pipeline_registry",
)


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_every_capability_package_exists() -> None:
    assert all((PACKAGE / name / "__init__.py").is_file() for name in CAPABILITIES)


@pytest.mark.parametrize("package", CAPABILITIES)
def test_a_capability_package_imports_nothing_above_it(package: str) -> None:
    offending = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in sorted((PACKAGE / package).rglob("*.py"))
        for name in _imported(path)
        if any(name == f"visionops.{top}" or name.startswith(f"visionops.{top}.") for top in ABOVE)
    }
    assert not offending, sorted(offending)
