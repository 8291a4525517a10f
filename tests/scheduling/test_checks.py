"""The checks on a real conf/, params.yaml, image folder and registry (no pipeline run)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from e2e.conftest import set_parameters
from visionops.registry.events import REGISTERED, append_event
from visionops.registry.layout import write_models_config
from visionops.scheduling.checks import evaluate, project_parameters
from visionops.scheduling.runlog import now
from visionops.scheduling.settings import load_settings
from visionops.scheduling.triggers import RETRAIN, SKIP

from .conftest import write_images

SOURCE = "data/01_raw/shapes"


@pytest.fixture
def project(conf_project: Path) -> Path:
    """conf/ with params.yaml pointing ingestion at a small image folder, as
    `dvc exp run -S ingestion.source=image_folder ...` would leave it."""
    write_images(conf_project / SOURCE, per_class=40, seed=1)
    overlay = {"ingestion": {"source": "image_folder", "path": SOURCE, "image_size": [12, 12]}}
    set_parameters(conf_project, overlay)
    return conf_project


def _by_trigger(checks: list) -> dict:
    return {check.trigger: check for check in checks}


def _register(project: Path, version: int) -> None:
    root = project / "registry"
    (root / "classifier" / str(version)).mkdir(parents=True)
    write_models_config(root, {"classifier": {"production": version}})
    append_event(root, "classifier", REGISTERED, version=version, labels={"production": version})


def test_the_checks_read_params_yaml(project: Path) -> None:
    ingestion = project_parameters(project)["ingestion"]
    assert ingestion["source"] == "image_folder"
    assert ingestion["image_size"] == [12, 12]
    assert ingestion["channels"] == 3  # kept from the project's params.yaml


def test_first_check_of_a_fresh_project_retrains(project: Path) -> None:
    evaluation = evaluate(load_settings(project), None, now())
    checks = _by_trigger(evaluation.checks)
    assert checks["schedule"].decision == SKIP
    assert checks["new_data"].decision == RETRAIN
    assert checks["drift"].decision == SKIP
    assert "no production model and no pinned reference" in checks["drift"].reason
    assert checks["model_age"].decision == RETRAIN
    assert evaluation.fingerprint["files"] == 120


def test_recorded_hash_and_young_model_skip(project: Path) -> None:
    _register(project, 1)
    first = evaluate(load_settings(project), None, now())
    again = _by_trigger(evaluate(load_settings(project), first.fingerprint, now()).checks)
    assert again["new_data"].decision == SKIP
    assert again["model_age"].decision == SKIP
    assert again["model_age"].details["version"] == 1
    later = now() + timedelta(days=31)
    aged = _by_trigger(evaluate(load_settings(project), first.fingerprint, later).checks)
    assert aged["model_age"].decision == RETRAIN


def test_drift_from_the_reference_retrains_unless_the_threshold_allows_it(
    project: Path,
) -> None:
    first = evaluate(load_settings(project), None, now())
    assert _by_trigger(first.checks)["drift"].decision == SKIP
    # A pinned reference (used while no model is in production) where class_0 held
    # almost every image.
    reference = _profile(project)
    reference["class_counts"] = [400, 4, 4]
    pinned = project / "conf/base/reference/classifier.json"
    pinned.write_text(json.dumps(reference))
    drift = _by_trigger(evaluate(load_settings(project), None, now()).checks)["drift"]
    assert drift.decision == RETRAIN
    assert "class_distribution" in drift.reason
    assert f"file:{pinned}" in drift.reason
    lenient = load_settings(project, drift_max_distance=1.0)
    assert _by_trigger(evaluate(lenient, None, now()).checks)["drift"].decision == SKIP


def _profile(project: Path) -> dict:
    from visionops.sources import read_source
    from visionops.validation.drift import distribution_profile

    dataset = read_source("image_folder", project / SOURCE, {"image_size": [12, 12]})
    return distribution_profile(dataset.images, dataset.labels, dataset.class_names, (0, 255))


def test_disabled_triggers_and_a_missing_source_never_fire(project: Path) -> None:
    (project / "conf/local/scheduling.yml").write_text(
        "triggers: {new_data: false, model_age: false}\n"
    )
    checks = _by_trigger(evaluate(load_settings(project), None, now()).checks)
    assert checks["new_data"].decision == SKIP
    assert "trigger is off" in checks["new_data"].reason
    set_parameters(project, {"ingestion": {"source": "image_folder", "path": "data/01_raw/gone"}})
    (project / "conf/local/scheduling.yml").unlink()
    checks = _by_trigger(evaluate(load_settings(project), None, now()).checks)
    assert checks["new_data"].decision == SKIP
    assert "does not exist" in checks["new_data"].reason
    assert checks["drift"].decision == SKIP
    assert checks["drift"].reason.startswith("could not check drift")
