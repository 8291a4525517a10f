"""What live traffic is compared with: the production version's data profile and test split.

Every version the deployment stage registers keeps, in ``assets.extra/``, the profile of
the data it was trained on (``data_profile.json``: class counts and per-channel
intensity histograms, the drift reference of data validation) and its lineage
(``lineage.json``), whose evaluation metrics give each class's support in the test
split. Nothing more is stored at registration for monitoring.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionops.errors import ConfigError
from visionops.registry.layout import (
    DATA_PROFILE_FILE,
    LINEAGE_FILE,
    PRODUCTION,
    list_versions,
    read_labels,
    version_dir,
)


@dataclass(frozen=True)
class Reference:
    """One version's reference for monitoring.

    Attributes:
        model: The model's name.
        version: The version.
        profile: Its training data's distribution profile; None when it kept none.
        class_names: Its classes, in label order; None when nothing records them.
        test_class_counts: Images per class in its test split; None when unknown.
        image_shape: Height, width and channels it takes; None when unknown.
    """

    model: str
    version: int
    profile: dict[str, Any] | None
    class_names: tuple[str, ...] | None
    test_class_counts: tuple[int, ...] | None
    image_shape: tuple[int, int, int] | None

    @property
    def origin(self) -> str:
        """``registry:<model>/<version>``, as data validation names its reference."""
        return f"registry:{self.model}/{self.version}"


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path} cannot be read: {error}") from error
    return content if isinstance(content, dict) else None


def version_reference(path: Path, model: str, version: int) -> Reference:
    """The reference kept in the version folder ``path``.

    Raises:
        ConfigError: Its profile or lineage exists but cannot be read.
    """
    profile = _read_json(Path(path) / DATA_PROFILE_FILE)
    lineage = _read_json(Path(path) / LINEAGE_FILE) or {}
    names = lineage.get("class_names") or (profile or {}).get("class_names")
    class_names = tuple(str(name) for name in names) if names else None
    shape = lineage.get("image_shape") or (profile or {}).get("image_shape")
    per_class = (lineage.get("metrics") or {}).get("per_class") or {}
    test_counts = None
    if class_names and all(isinstance(per_class.get(n), dict) for n in class_names):
        test_counts = tuple(int(per_class[name].get("support", 0)) for name in class_names)
    return Reference(
        model=model,
        version=version,
        profile=profile,
        class_names=class_names,
        test_class_counts=test_counts,
        image_shape=tuple(int(side) for side in shape) if shape else None,  # type: ignore[arg-type]
    )


def production_reference(registry: Path, model: str) -> Reference | None:
    """The reference of ``model``'s production version (its newest when none is
    labelled production); None when the model has no version.

    Raises:
        ConfigError: The version's profile or lineage cannot be read.
    """
    version = read_labels(Path(registry)).get(model, {}).get(PRODUCTION)
    if version is None:
        versions = list_versions(Path(registry), model)
        if not versions:
            return None
        version = versions[-1]
    return version_reference(version_dir(Path(registry), model, version), model, version)
