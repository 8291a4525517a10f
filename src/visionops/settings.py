"""Kedro project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from visionops.devices import hide_absent_gpus

# Kedro imports this module before the pipelines, so before TensorFlow: every kedro
# command, including the DVC stages, is spared TensorFlow's cuInit error on a machine
# without a GPU.
hide_absent_gpus()

from visionops.shutdown import skip_collection_at_exit  # noqa: E402

# Registered first, so it runs after the other exit handlers.
skip_collection_at_exit()

from visionops.config import ProjectConfigLoader  # noqa: E402
from visionops.deployment_hooks import InfraValidationAheadHook  # noqa: E402
from visionops.hooks import OpenLineageHook, ReadableErrorHook, SourceDatasetHook  # noqa: E402

HOOKS = (SourceDatasetHook(), ReadableErrorHook(), OpenLineageHook(), InfraValidationAheadHook())

# Parameters come from params.yaml (what DVC tracks and `dvc exp run -S` edits), with
# `kedro run --params` over it; conf/ holds the catalog and the expectation suites.
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
