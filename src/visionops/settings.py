"""Kedro project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from visionops.hooks import ReadableErrorHook, SourceDatasetHook

HOOKS = (SourceDatasetHook(), ReadableErrorHook())

CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
