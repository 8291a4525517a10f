"""The deployment stage's Kedro hook: its infra-validation process, started ahead.

Apart from :mod:`visionops.hooks`, whose source dataset the ingestion stage depends on:
this hook changes when the check's process starts, never what any stage writes, so no
stage's DVC deps need to name it.
"""

from __future__ import annotations

import sys
from typing import Any

from kedro.framework.hooks import hook_impl

DEPLOYMENT = "deployment"


class InfraValidationAheadHook:
    """Starts the deployment stage's infra-validation process as the stage starts.

    The process imports TensorFlow while this one loads and exports the model, so the
    check can begin as soon as the export is written (see
    :func:`visionops.registry.infra.start_fresh_process_ahead`). A run that registers
    nothing, or fails, ends it. Only a run of the deployment pipeline alone starts one
    (what its DVC stage runs): in a whole-pipeline run it would wait through training.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        if run_params.get("pipeline_names") == [DEPLOYMENT]:
            from visionops.registry.infra import start_fresh_process_ahead

            start_fresh_process_ahead()

    @hook_impl
    def after_pipeline_run(self) -> None:
        _stop_infra_process()

    @hook_impl
    def on_pipeline_error(self) -> None:
        _stop_infra_process()


def _stop_infra_process() -> None:
    if "visionops.registry.infra" in sys.modules:
        from visionops.registry.infra import stop_fresh_process_ahead

        stop_fresh_process_ahead()
