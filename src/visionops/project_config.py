"""The project's configuration as ``kedro run`` resolves it, for commands outside Kedro."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visionops.errors import ConfigError


def load_config(project_dir: Path, kind: str) -> dict[str, Any]:
    """Loads ``parameters``, ``catalog`` or ``globals`` from ``project_dir/conf``,
    conf/local overriding conf/base, with ``${globals:...}`` resolved.

    Raises:
        ConfigError: ``project_dir`` has no conf/base folder.
    """
    from kedro.config import OmegaConfigLoader

    conf = Path(project_dir) / "conf"
    if not (conf / "base").is_dir():
        raise ConfigError(
            f"{project_dir} is not a visionops project (no conf/base); run the command "
            "from the project folder or pass --project-dir"
        )
    loader = OmegaConfigLoader(conf_source=str(conf), base_env="base", default_run_env="local")
    return dict(loader[kind])
