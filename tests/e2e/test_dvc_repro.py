"""`dvc repro` in a fresh copy of the project: the whole pipeline, caching, the remote."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from visionops.registry.layout import list_versions, read_labels

from .conftest import run, set_parameters

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", output)


def test_full_pipeline_registers_an_accurate_model(reproduced: Path) -> None:
    metrics = json.loads((reproduced / "data/08_reporting/metrics.json").read_text())
    assert metrics["accuracy"] >= 0.98
    assert list_versions(reproduced / "registry", "classifier") == [1]
    assert read_labels(reproduced / "registry") == {"classifier": {"production": 1}}
    assert (reproduced / "registry/classifier/1/saved_model.pb").is_file()
    shown = run(reproduced, "dvc", "metrics", "show", "--json").stdout
    assert '"accuracy"' in shown


def test_second_repro_runs_no_stage(reproduced: Path) -> None:
    result = run(reproduced, "dvc", "repro")
    assert _stages_run(result.stdout) == []
    assert "up to date" in run(reproduced, "dvc", "status").stdout


def test_push_then_pull_restores_a_deleted_output(reproduced: Path) -> None:
    run(reproduced, "dvc", "push")
    raw = reproduced / "data/02_intermediate/raw_dataset.npz"
    content = raw.read_bytes()
    raw.unlink()
    run(reproduced, "dvc", "pull", "--force")
    assert raw.read_bytes() == content


def test_an_evaluation_parameter_reruns_only_evaluation_and_deployment(reproduced: Path) -> None:
    set_parameters(reproduced, {"evaluation": {"min_accuracy": 0.85}})
    result = run(reproduced, "dvc", "repro")
    assert _stages_run(result.stdout) == ["evaluation", "deployment"]
    assert list_versions(reproduced / "registry", "classifier") == [1, 2]


def test_exp_run_set_param_reruns_training_with_the_new_value(reproduced: Path) -> None:
    """`dvc exp run -S training.epochs=3`, as DVC users type it, reaches the training stage."""
    result = run(reproduced, "dvc", "exp", "run", "-S", "training.epochs=3")
    assert _stages_run(result.stdout) == ["training", "evaluation", "deployment"]
    metadata = json.loads((reproduced / "data/07_model_output/training_metadata.json").read_text())
    assert metadata["epochs_run"] == 3
    history = json.loads((reproduced / "data/07_model_output/training_history.json").read_text())
    assert [record["epoch"] for record in history] == [1, 2, 3]
    assert (reproduced / "data/07_model_output/dvclive/plots/metrics/train/loss.tsv").is_file()
    shown = run(reproduced, "dvc", "exp", "show", "--json").stdout
    assert '"training.epochs": 3' in shown.replace("\n", "") or '"epochs": 3' in shown
