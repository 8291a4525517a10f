"""``params.yaml``: the parameters as DVC sees them, generated from conf/base.

The parameters are defined in ``conf/base/parameters_<pipeline>.yml``, one file per
pipeline, as Kedro projects keep them. DVC, though, edits ``params.yaml`` when
``dvc exp run -S training.epochs=3`` sets a parameter, and tracks its keys. So
``params.yaml`` holds every parameter, generated from conf/base
(``visionops params sync`` or ``make params``), and it is what runs: the project's
config loader lays it over conf/base, and ``kedro run --params`` over both. A value
that differs from conf/base is logged, so a forgotten ``make params`` is never silent.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml
from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

from visionops.stages import STAGES

logger = logging.getLogger(__name__)

PARAMS_FILE = "params.yaml"
HEADER = (
    "# Generated from conf/base/parameters_*.yml by `visionops params sync` (make params):\n"
    "# edit those files, not this one. `dvc exp run -S key=value` sets values here for an\n"
    "# experiment; what is set here overrides conf/base when the pipeline runs.\n"
)


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, item in value.items():
            found.update(_leaves(item, f"{prefix}.{key}" if prefix else str(key)))
        return found
    return {prefix: value}


def differences(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Leaf keys whose value in ``overlay`` differs from ``base``: key -> (base, overlay)."""
    base_leaves, overlay_leaves = _leaves(base), _leaves(overlay)
    return {
        key: (base_leaves.get(key), value)
        for key, value in overlay_leaves.items()
        if base_leaves.get(key, object()) != value
    }


def render(parameters: dict[str, Any]) -> str:
    """The text of ``params.yaml`` for ``parameters``: groups in pipeline order."""
    order = {name: index for index, name in enumerate(STAGES)}
    ordered = dict(sorted(parameters.items(), key=lambda item: (order.get(item[0], 99), item[0])))
    return HEADER + yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False)


def read(project_dir: Path) -> dict[str, Any] | None:
    """The project's ``params.yaml``, or None when it does not exist."""
    path = Path(project_dir) / PARAMS_FILE
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text()) or {}


class ParamsFileConfigLoader(OmegaConfigLoader):
    """Kedro's OmegaConfigLoader, with ``params.yaml`` laid over conf/ parameters and
    ``--params`` runtime values over both."""

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key != "parameters":
            return super().__getitem__(key)
        runtime, self.runtime_params = self.runtime_params, {}
        try:
            parameters = super().__getitem__(key)
        finally:
            self.runtime_params = runtime
        overlay = read(Path(self.conf_source).parent)
        if overlay:
            for name, (configured, running) in differences(parameters, overlay).items():
                logger.warning(
                    "params.yaml sets %s=%r (conf/base: %r): set by `dvc exp run -S`, or run "
                    "`make params` if conf/base changed",
                    name,
                    running,
                    configured,
                )
            parameters = OmegaConf.to_container(
                OmegaConf.merge(OmegaConf.create(parameters), OmegaConf.create(overlay))
            )
        if runtime:
            parameters = OmegaConf.to_container(
                OmegaConf.merge(OmegaConf.create(parameters), OmegaConf.create(dict(runtime)))
            )
        return parameters
