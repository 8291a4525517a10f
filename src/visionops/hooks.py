"""Kedro hooks: the data source dataset built from parameters, readable errors, and the
OpenLineage events of each run."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from visionops.datasets.image_source import ImageSourceDataset
from visionops.errors import VisionOpsError
from visionops.sources import resolve_paths

if TYPE_CHECKING:
    from visionops.lineage.openlineage import StageRun

logger = logging.getLogger(__name__)

SOURCE_DATASET = "source_images"


class SourceDatasetHook:
    """Adds ``source_images`` to the catalog from the ``ingestion`` parameters.

    The source is chosen by ``ingestion.source`` and ``ingestion.path`` so that
    ``kedro run --params`` and ``dvc exp run -S`` can switch it like any parameter;
    the reading still goes through a dataset, never through a node. Relative paths
    are taken from the project root.
    """

    def __init__(self) -> None:
        self._project_path = Path.cwd()

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._project_path = Path(context.project_path)

    @hook_impl
    def after_catalog_created(self, catalog: Any, parameters: dict[str, Any]) -> None:
        params = parameters.get("params:ingestion")
        if params is None or SOURCE_DATASET in catalog:
            return
        path = params.get("path")
        if path and not Path(path).is_absolute():
            path = str(self._project_path / path)
        # A list of sources: each entry's relative path is taken from the root too.
        source = resolve_paths(params.get("source", "digits"), self._project_path)
        catalog[SOURCE_DATASET] = ImageSourceDataset(source=source, path=path)


def _drop_resume_advice(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not ("--from-nodes" in message or message.startswith("No nodes ran"))


def user_error(error: BaseException) -> VisionOpsError | None:
    """The first :class:`VisionOpsError` in a chain of ``raise ... from``, if any."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, VisionOpsError):
            return current
        current = current.__cause__
    return None


class ReadableErrorHook:
    """Ends a ``kedro run`` failed by a user-caused error with its message, no traceback.

    A :class:`VisionOpsError` (bad data, bad configuration) is the user's to fix, and
    its message says what and where; Kedro's traceback would bury it. For those errors
    the process's exception hook prints ``visionops: error: <message>`` to stderr and
    the exit code stays 1. Set ``VISIONOPS_TRACEBACK=1`` to see the traceback anyway.
    Any other error keeps its full traceback.
    """

    @hook_impl
    def on_node_error(self, error: Exception) -> None:
        """Drops Kedro's advice to resume with ``--from-nodes`` after a user error: the
        fix is in the data or the configuration, and rerunning a node does not help."""
        if user_error(error) is None or os.environ.get("VISIONOPS_TRACEBACK"):
            return
        for name in ("kedro.runner.sequential_runner", "kedro.runner.runner"):
            logging.getLogger(name).addFilter(_drop_resume_advice)

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        cause = user_error(error)
        if cause is not None:
            _print_message_only(error, cause)


def _print_message_only(error: BaseException, cause: VisionOpsError) -> None:
    """Makes the process end on ``error`` with ``visionops: error: <cause>``, no traceback
    (unless ``VISIONOPS_TRACEBACK`` is set)."""
    if os.environ.get("VISIONOPS_TRACEBACK"):
        return
    previous_hook = sys.excepthook

    def print_message(kind: type, value: BaseException, trace: TracebackType | None) -> None:
        if value is error:
            print(f"visionops: error: {cause}", file=sys.stderr)
        else:
            previous_hook(kind, value, trace)

    sys.excepthook = print_message


class OpenLineageHook:
    """Sends each run's OpenLineage events (conf/base/openlineage.yml): START before the
    pipeline runs, then COMPLETE, or FAIL with the error's message; one run id.

    The job is named after the pipelines run (a DVC stage runs one), its datasets are
    the stage's DVC deps and outs. A transport problem is a warning, never a failed
    stage; a bad setting stops the run with its message.
    """

    def __init__(self) -> None:
        self._run: StageRun | None = None

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        # Imported here: the OpenLineage client takes a second to import, which only a
        # run needs, not every kedro command that reads the settings.
        from visionops.lineage.openlineage import start_stage_run

        pipelines = run_params.get("pipeline_names") or ["__default__"]
        try:
            self._run = start_stage_run(
                Path(run_params["project_path"]), pipelines, run_params.get("runtime_params")
            )
        except VisionOpsError as error:
            _print_message_only(error, error)
            raise

    @hook_impl
    def after_pipeline_run(self) -> None:
        if self._run is not None:
            self._run.complete()

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        if self._run is not None:
            self._run.fail(str(user_error(error) or error), error)
