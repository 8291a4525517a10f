"""The release gate's settings: ``conf/base/release.yml``, then conf/local.

Read through :func:`visionops.config.read_settings_file`, as the monitoring and
scheduling settings are: conf/local/release.yml, when present, is laid over
conf/base/release.yml key by key. A project without the file, or a registry used
outside a project, gets :data:`DEFAULTS`: no approval required.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visionops.config import read_settings_file
from visionops.errors import ConfigError
from visionops.registry.approvals import ApprovalRule

SETTINGS_FILE = "release.yml"
DEFAULTS: dict[str, Any] = {"approvals": {"required": 0}}


def load_approval_rule(project_dir: Path) -> ApprovalRule:
    """How many approvals the production label asks of a version in this project.

    Raises:
        ConfigError: ``release.yml`` is not YAML, sets an unknown key, or
            ``approvals.required`` is not a whole number of at least 0; the message
            names the key and the file.
    """
    conf = Path(project_dir) / "conf"
    rule = ApprovalRule(DEFAULTS["approvals"]["required"], "the default")
    for path in (conf / "base" / SETTINGS_FILE, conf / "local" / SETTINGS_FILE):
        values = read_settings_file(path, DEFAULTS)
        if "required" in values.get("approvals", {}):
            rule = ApprovalRule(_whole(values["approvals"]["required"], path), str(path))
    return rule


def _whole(value: Any, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"approvals.required in {path} must be a whole number of at least 0 (0: no "
            f"approval needed); got {value!r}"
        )
    return value
