"""The container image's software bill of materials: requirements.lock as CycloneDX 1.6.

The image installs exactly the lock's pins (``pip --require-hashes``), so the lock is
the image's Python environment. Each pin becomes a ``library`` component with its PyPI
package URL. The lock allows several files per pin (one wheel per platform), so the
components carry no hash of their own; the lock's own sha256, which pins every allowed
file, is a property of the SBOM. A project without a lock (an installed package run
elsewhere) gets the distributions installed in the running interpreter instead, and the
``visionops:source`` property says so.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import re
import uuid
from pathlib import Path
from typing import Any

from visionops import __version__

LOCK_FILE = "requirements.lock"
SPEC_VERSION = "1.6"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def normalized(name: str) -> str:
    """A distribution name as PyPI and package URLs spell it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(text: str) -> list[tuple[str, str]]:
    """``(name, version)`` of every ``name==version`` line of a pip lock, in its order."""
    pins = []
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins.append((normalized(match.group(1)), match.group(2)))
    return pins


def _installed() -> list[tuple[str, str]]:
    found = {
        normalized(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    return sorted(found.items())


def _component(name: str, version: str) -> dict[str, Any]:
    purl = f"pkg:pypi/{name}@{version}"
    return {"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl}


def environment_sbom(project_dir: Path) -> dict[str, Any]:
    """The SBOM of the project's locked environment (see the module docstring)."""
    lock = Path(project_dir) / LOCK_FILE
    if lock.is_file():
        data = lock.read_bytes()
        pins = lock_pins(data.decode())
        digest = hashlib.sha256(data).hexdigest()
        properties = [
            {"name": "visionops:source", "value": LOCK_FILE},
            {"name": "visionops:lock_sha256", "value": digest},
        ]
    else:
        pins = _installed()
        digest = hashlib.sha256(repr(pins).encode()).hexdigest()
        properties = [{"name": "visionops:source", "value": "installed distributions"}]
    # Where the SBOM was written: the interpreter and machine that registered the version.
    properties += [
        {"name": "visionops:python", "value": platform.python_version()},
        {"name": "visionops:platform", "value": platform.platform()},
    ]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        # The same environment always gets the same serial number.
        "serialNumber": uuid.uuid5(uuid.NAMESPACE_URL, f"visionops-sbom:{digest}").urn,
        "version": 1,
        "metadata": {
            "tools": {
                "components": [{"type": "application", "name": "visionops", "version": __version__}]
            },
            "component": {
                "type": "container",
                "bom-ref": "visionops-image",
                "name": "visionops",
                "version": __version__,
                "description": "The visionops image's Python environment (Dockerfile)",
            },
            "properties": properties,
        },
        "components": [_component(name, version) for name, version in pins],
    }
