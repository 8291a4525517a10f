"""Kedro project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from visionops.hooks import ReadableErrorHook, SourceDatasetHook
from visionops.params_file import ParamsFileConfigLoader

HOOKS = (SourceDatasetHook(), ReadableErrorHook())

# conf/base parameters, then params.yaml (what `dvc exp run -S` edits), then --params.
CONFIG_LOADER_CLASS = ParamsFileConfigLoader
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
