"""The drift reference: the production version's data profile, or a pinned file.

One place decides which profile new data is compared with, for the data_validation
stage, ``visionops validate`` and the scheduler's drift trigger alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from visionops.errors import ConfigError
from visionops.registry.layout import DATA_PROFILE_FILE, PRODUCTION, read_labels, version_dir


def load_reference(registry: Path, model_name: str, pinned: Path) -> dict[str, Any] | None:
    """The profile stored with ``model_name``'s production version; when there is none,
    the pinned file; when neither exists, None.

    Returns:
        ``{"origin": "registry:<model>/<version>" or "file:<path>", "profile": {...}}``.

    Raises:
        ConfigError: The reference exists but cannot be read.
    """
    registry, pinned = Path(registry), Path(pinned)
    version = read_labels(registry).get(model_name, {}).get(PRODUCTION)
    if version is not None:
        path = version_dir(registry, model_name, version) / DATA_PROFILE_FILE
        if path.is_file():
            return {"origin": f"registry:{model_name}/{version}", "profile": _read(path)}
    if pinned.is_file():
        return {"origin": f"file:{pinned}", "profile": _read(pinned)}
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"drift reference {path} cannot be read: {error}") from error
