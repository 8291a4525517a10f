"""Kedro project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from visionops.devices import hide_absent_gpus

# Kedro imports this module before the pipelines, so before TensorFlow: every kedro
# command, including the DVC stages, is spared TensorFlow's cuInit error on a machine
# without a GPU.
hide_absent_gpus()

from visionops.hooks import ReadableErrorHook, SourceDatasetHook  # noqa: E402
from visionops.params_file import ParamsFileConfigLoader  # noqa: E402

HOOKS = (SourceDatasetHook(), ReadableErrorHook())

# conf/base parameters, then params.yaml (what `dvc exp run -S` edits), then --params.
CONFIG_LOADER_CLASS = ParamsFileConfigLoader
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
