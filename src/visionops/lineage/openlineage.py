"""OpenLineage events of a stage run: START, then COMPLETE or FAIL, with DVC's hashes.

A stage run is one ``kedro run --pipelines <name>``, which is one DVC stage. Its inputs
are the stage's ``deps`` in dvc.yaml and its outputs the stage's ``outs`` and
``metrics``, named by their paths there (``${...}`` resolved from the run's parameters,
as DVC resolves them from params.yaml). Each dataset that exists carries a ``version``
facet and a ``dvc`` facet holding the md5 DVC records for it in dvc.lock (a folder's
``.dir`` md5, ``.dvcignore`` applied), its size and, for a folder, its file count:
inputs are hashed at START, outputs at COMPLETE, once written.

Sending never fails the stage: a transport that cannot write or reach its server is
logged as a warning. Settings are read by :mod:`visionops.lineage.openlineage_settings`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import attr
import yaml
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    processing_engine_run,
)
from openlineage.client.transport import Transport
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpConfig, HttpTransport
from openlineage.client.uuid import generate_new_uuid

from visionops import __version__
from visionops.config import read_parameters
from visionops.lineage.md5_cache import Md5Cache
from visionops.lineage.openlineage_settings import OpenLineageSettings, load_openlineage_settings

logger = logging.getLogger(__name__)

PRODUCER = f"urn:visionops:{__version__}"
DVC_FACET = "dvc"
_VARIABLE = re.compile(r"\$\{\s*([\w.-]+)\s*\}")


@attr.define
class DvcDatasetFacet(DatasetFacet):
    """The hash DVC records for a dataset in dvc.lock: ``md5`` (``<md5>.dir`` for a
    folder), ``size`` in bytes and, for a folder, ``nfiles``."""

    md5: str
    size: int
    nfiles: int | None = attr.field(default=None)
    hash: str = attr.field(default="md5")
    _additional_skip_redact: ClassVar[list[str]] = ["md5", "size", "nfiles", "hash"]

    @staticmethod
    def _get_schema() -> str:
        return "urn:visionops:facets:DvcDatasetFacet:1"


def dvc_hash(path: Path, project_dir: Path, cache: Md5Cache | None = None) -> DvcDatasetFacet:
    """The md5, size and file count DVC records for ``path`` (a file or a folder), with
    the project's ``.dvcignore`` applied as DVC applies it.

    Args:
        path: The file or folder.
        project_dir: The project (its ``.dvcignore``).
        cache: md5s of files unchanged since they were hashed (none: read every file).
    """
    cache = cache if cache is not None else Md5Cache(None)
    full = str(path.resolve())
    if not path.is_dir():
        [(md5, size)] = cache.hash_files(full, [full])
        return DvcDatasetFacet(md5=md5, size=size, producer=PRODUCER)
    from dvc.fs import localfs  # DVC's own walk applies .dvcignore exactly as `dvc repro`
    from dvc.ignore import DvcIgnoreFilter

    ignore = DvcIgnoreFilter(localfs, str(project_dir.resolve()))
    files = [
        os.path.join(directory, name)
        for directory, _, names in ignore.walk(localfs, full)
        for name in names
    ]
    hashed = cache.hash_files(full, files)
    prefix = len(full) + 1
    entries = [
        {"md5": md5, "relpath": file[prefix:].replace(os.sep, "/")}
        for file, (md5, _) in zip(files, hashed, strict=True)
    ]
    entries.sort(key=lambda entry: entry["relpath"])
    # The .dir manifest's bytes, as visionops.lineage.dvc_store.dir_manifest writes them.
    manifest = json.dumps(entries, sort_keys=True).encode()
    return DvcDatasetFacet(
        md5=hashlib.md5(manifest).hexdigest() + ".dir",
        size=sum(size for _, size in hashed),
        nfiles=len(entries),
        producer=PRODUCER,
    )


def stage_paths(
    project_dir: Path, pipelines: Sequence[str], parameters: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """The inputs and outputs of the DVC stages that run ``pipelines``, as dvc.yaml names
    them (``__default__`` stands for every stage). An input that one of the stages
    writes is an output only. A pipeline with no stage of that name adds nothing."""
    path = Path(project_dir) / "dvc.yaml"
    stages = (yaml.safe_load(path.read_text()) or {}).get("stages", {}) if path.is_file() else {}
    names = list(stages) if "__default__" in pipelines else [n for n in pipelines if n in stages]
    inputs: list[str] = []
    outputs: list[str] = []
    for name in names:
        stage = stages[name]
        inputs += [_resolved(str(dep), parameters) for dep in stage.get("deps", [])]
        for entry in [*stage.get("outs", []), *stage.get("metrics", [])]:
            out = next(iter(entry)) if isinstance(entry, dict) else entry
            outputs.append(_resolved(str(out), parameters))
    outputs = list(dict.fromkeys(outputs))
    return [p for p in dict.fromkeys(inputs) if p not in outputs], outputs


def _resolved(text: str, parameters: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        found: Any = parameters
        for part in match.group(1).split("."):
            if not isinstance(found, dict) or part not in found:
                return match.group(0)
            found = found[part]
        return str(found)

    return _VARIABLE.sub(value, text)


def _transport(settings: OpenLineageSettings) -> Transport:
    if settings.transport == "file":
        settings.folder.mkdir(parents=True, exist_ok=True)
        # debug_mode names each file <namespace>-<time>-<job>-<event type>.json, so the
        # folder lists in order and reads at a glance (and indents the JSON).
        prefix = settings.folder / settings.namespace
        return FileTransport(FileConfig(log_file_path=str(prefix), debug_mode=True))
    http = settings.http
    retries = {"total": http.retries, "connect": http.retries, "read": http.retries}
    config = HttpConfig.from_dict(
        {
            "url": http.url,
            "endpoint": http.endpoint,
            "timeout": http.timeout_s,
            "retry": retries,
            "auth": {"type": "api_key", "apiKey": http.api_key} if http.api_key else {},
        }
    )
    return HttpTransport(config)


class Emitter:
    """Sends events through the configured transport; a failure is a logged warning."""

    def __init__(self, settings: OpenLineageSettings) -> None:
        self.settings = settings
        self.where = (
            str(settings.folder)
            if settings.transport == "file"
            else f"{settings.http.url.rstrip('/')}/{settings.http.endpoint.lstrip('/')}"
        )
        self._client: OpenLineageClient | None = None
        try:
            self._client = OpenLineageClient(transport=_transport(settings))
        except Exception as error:  # noqa: BLE001 (a transport problem never fails a stage)
            logger.warning("OpenLineage: cannot send events to %s: %s", self.where, error)

    def emit(self, event: RunEvent) -> bool:
        """Sends ``event``; False (and a warning) when the transport fails."""
        if self._client is None:
            return False
        try:
            self._client.emit(event)
        except Exception as error:  # noqa: BLE001 (a transport problem never fails a stage)
            logger.warning(
                "OpenLineage: the %s event of %s was not sent to %s: %s",
                event.eventType.value if event.eventType else "",
                event.job.name,
                self.where,
                error,
            )
            return False
        return True


class StageRun:
    """One run of a stage as OpenLineage sees it: one run id, START, then COMPLETE or FAIL.

    Args:
        project_dir: The project folder (the one holding dvc.yaml).
        pipelines: The pipelines ``kedro run`` runs; the job is named after them.
        parameters: The run's parameters, which resolve ``${...}`` in dvc.yaml.
        settings: The OpenLineage settings.
    """

    def __init__(
        self,
        project_dir: Path,
        pipelines: Sequence[str],
        parameters: dict[str, Any],
        settings: OpenLineageSettings,
    ) -> None:
        self.project_dir = Path(project_dir)
        self.settings = settings
        self.run_id = str(generate_new_uuid())
        self.job_name = "+".join(pipelines)
        self.inputs, self.outputs = stage_paths(self.project_dir, pipelines, parameters)
        self.emitter = Emitter(settings)
        self.md5s = Md5Cache(self.project_dir)
        self._input_datasets: list[InputDataset] = []

    def start(self) -> RunEvent:
        """Sends START, with each input's DVC hash as it is now."""
        self._input_datasets = [
            InputDataset(self.settings.dataset_namespace, path, facets=self._facets(path))
            for path in self.inputs
        ]
        engine = processing_engine_run.ProcessingEngineRunFacet(
            version=_kedro_version(), name="Kedro", openlineageAdapterVersion=__version__
        )
        return self._send(RunState.START, {"processing_engine": engine}, hashed_outputs=False)

    def complete(self) -> RunEvent:
        """Sends COMPLETE, with each output's DVC hash as the stage wrote it."""
        return self._send(RunState.COMPLETE, {}, hashed_outputs=True)

    def fail(self, message: str, error: BaseException | None = None) -> RunEvent:
        """Sends FAIL with an ``errorMessage`` facet holding ``message`` (and the
        traceback of ``error``); outputs are named but not hashed."""
        trace = "".join(traceback.format_exception(error)) if error is not None else None
        facet = error_message_run.ErrorMessageRunFacet(
            message=message, programmingLanguage="python", stackTrace=trace, producer=PRODUCER
        )
        return self._send(RunState.FAIL, {"errorMessage": facet}, hashed_outputs=False)

    def _facets(self, path: str) -> dict[str, DatasetFacet]:
        full = self.project_dir / path
        if not full.exists():
            return {}
        try:
            hashed = dvc_hash(full, self.project_dir, self.md5s)
        except OSError as error:
            logger.warning("OpenLineage: cannot hash %s: %s", path, error)
            return {}
        version = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=hashed.md5, producer=PRODUCER
        )
        return {DVC_FACET: hashed, "version": version}

    def _send(self, state: RunState, run_facets: dict, hashed_outputs: bool) -> RunEvent:
        job_type = job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="KEDRO", jobType="PIPELINE", producer=PRODUCER
        )
        outputs = [
            OutputDataset(
                self.settings.dataset_namespace,
                path,
                facets=self._facets(path) if hashed_outputs else {},
            )
            for path in self.outputs
        ]
        event = RunEvent(
            eventType=state,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=self.run_id, facets=run_facets),
            job=Job(self.settings.namespace, self.job_name, facets={"jobType": job_type}),
            inputs=self._input_datasets,
            outputs=outputs,
            producer=PRODUCER,
        )
        self.emitter.emit(event)
        return event


def _kedro_version() -> str:
    from kedro import __version__ as kedro_version

    return kedro_version


def start_stage_run(
    project_dir: Path, pipelines: Sequence[str], runtime: dict[str, Any] | None = None
) -> StageRun | None:
    """Reads the settings and sends START for the stages that run ``pipelines``; None
    when OpenLineage is disabled in conf/base/openlineage.yml.

    Args:
        project_dir: The project folder.
        pipelines: The pipelines ``kedro run`` runs (``__default__`` for all).
        runtime: The values of ``kedro run --params``.

    Raises:
        ConfigError: The OpenLineage settings or the parameters are invalid.
    """
    settings = load_openlineage_settings(project_dir)
    if not settings.enabled:
        return None
    run = StageRun(project_dir, pipelines, read_parameters(project_dir, runtime), settings)
    run.start()
    return run
