"""The source dataset the hook adds takes relative paths from the project root, for one
source and for each entry of a list of sources; the deployment stage starts its
infra-validation process ahead and ends it when nothing took it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from kedro.io import DataCatalog

from visionops.deployment_hooks import InfraValidationAheadHook
from visionops.hooks import SOURCE_DATASET, SourceDatasetHook
from visionops.registry import infra


def _source_of(hook: SourceDatasetHook, ingestion: dict) -> tuple[object, object]:
    catalog = DataCatalog()
    hook.after_catalog_created(catalog, {"params:ingestion": ingestion})
    dataset = catalog[SOURCE_DATASET]
    return dataset._source, dataset._path


def test_relative_paths_are_taken_from_the_project_root(tmp_path: Path) -> None:
    hook = SourceDatasetHook()
    hook.after_context_created(SimpleNamespace(project_path=tmp_path))

    one = _source_of(hook, {"source": "image_folder", "path": "data/01_raw/pets"})
    several = _source_of(
        hook,
        {
            "source": [
                "digits",
                {"source": "image_folder", "path": "data/01_raw/feedback"},
                {"source": "image_folder", "path": "/srv/photos"},
            ]
        },
    )

    assert one == ("image_folder", str(tmp_path / "data/01_raw/pets"))
    assert several[0] == [
        "digits",
        {"source": "image_folder", "path": str(tmp_path / "data/01_raw/feedback")},
        {"source": "image_folder", "path": "/srv/photos"},
    ]


@pytest.mark.parametrize("pipelines", [["ingestion"], ["training", "deployment"], None], ids=str)
def test_only_the_deployment_stage_starts_an_infra_process_ahead(pipelines: object) -> None:
    InfraValidationAheadHook().before_pipeline_run({"pipeline_names": pipelines})
    assert infra._ahead == []


@pytest.mark.parametrize("end", ["after_pipeline_run", "on_pipeline_error"])
def test_the_deployment_stage_ends_the_infra_process_nothing_took(end: str) -> None:
    hook = InfraValidationAheadHook()
    hook.before_pipeline_run({"pipeline_names": ["deployment"]})
    (ahead,) = infra._ahead
    getattr(hook, end)()
    assert ahead.process.poll() is not None
    assert infra._ahead == []
