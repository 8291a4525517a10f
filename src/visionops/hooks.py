"""Kedro hooks: the data source dataset built from parameters, and readable errors."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from kedro.framework.hooks import hook_impl

from visionops.datasets.image_source import ImageSourceDataset
from visionops.errors import VisionOpsError
from visionops.sources import resolve_paths

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
        if cause is None or os.environ.get("VISIONOPS_TRACEBACK"):
            return
        previous_hook = sys.excepthook

        def print_message(kind: type, value: BaseException, trace: TracebackType | None) -> None:
            if value is error:
                print(f"visionops: error: {cause}", file=sys.stderr)
            else:
                previous_hook(kind, value, trace)

        sys.excepthook = print_message
