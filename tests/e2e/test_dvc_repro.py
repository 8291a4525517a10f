"""`dvc repro` in a fresh copy of the project: the whole pipeline, caching, the remote."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

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


def test_the_default_run_registers_a_signed_version_with_its_card(reproduced: Path) -> None:
    """The card of what `make run` registers: CycloneDX 1.6, the numbers of
    metrics.json; the version verifies, signature included."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    extra = reproduced / "registry/classifier/1/assets.extra"
    text = (extra / "model_card.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    (component,) = json.loads(text)["components"]
    overall = {
        metric["type"]: float(metric["value"])
        for metric in component["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
        if "slice" not in metric
    }
    metrics = json.loads((reproduced / "data/08_reporting/metrics.json").read_text())
    assert {key: overall[key] for key in metrics} == metrics
    card = run(reproduced, "visionops", "models", "card", "classifier@production").stdout
    assert card.startswith("# Model card: classifier version 1")
    assert f"| accuracy | {metrics['accuracy']:.4f} |" in card
    assert (extra / "model.sig").is_file()
    assert "all intact" in run(reproduced, "visionops", "lineage", "verify", "--all").stdout


def test_every_report_page_reads_offline(reproduced: Path) -> None:
    from offline_pages import outside_references

    assert list((reproduced / "data/08_reporting").rglob("*.html"))
    assert outside_references(reproduced / "data/08_reporting") == []


def test_a_fresh_copy_reproduces_the_committed_dvc_lock(reproduced: Path) -> None:
    """Every output is byte-identical for the same inputs, model.keras and the reports
    included, so a fresh clone's run leaves the committed dvc.lock as it is."""
    status = run(reproduced, "git", "status", "--porcelain").stdout
    diff = run(reproduced, "git", "diff", "--stat").stdout
    assert status == "", (
        f"the run changed tracked files:\n{status}{diff}\nif a stage's code or config "
        "changed, the committed dvc.lock is stale: run `make run` and commit dvc.lock"
    )


def test_second_repro_runs_no_stage(reproduced: Path) -> None:
    lock = (reproduced / "dvc.lock").read_text()
    result = run(reproduced, "dvc", "repro")
    assert _stages_run(result.stdout) == []
    assert "up to date" in run(reproduced, "dvc", "status").stdout
    assert (reproduced / "dvc.lock").read_text() == lock


def _outs(lock_text: str, stage: str) -> dict[str, str]:
    stage_lock = yaml.safe_load(lock_text)["stages"][stage]
    return {out["path"]: out["md5"] for out in stage_lock["outs"]}


def test_a_forced_rerun_trains_the_same_bytes_and_registers_nothing_new(
    reproduced: Path,
) -> None:
    before = (reproduced / "dvc.lock").read_text()
    run(reproduced, "dvc", "repro", "--force")
    after = (reproduced / "dvc.lock").read_text()
    for stage in ("ingestion", "data_processing", "training"):
        assert _outs(after, stage) == _outs(before, stage), stage
    assert list_versions(reproduced / "registry", "classifier") == [1]
    report = json.loads((reproduced / "data/08_reporting/deployment.json").read_text())
    assert report["registered"] is False
    assert "are classifier:1 [production] already" in report["reason"]
    # Validation and evaluation now compare with version 1, so their reports say so.
    validation = json.loads((reproduced / "data/08_reporting/validation.json").read_text())
    assert validation["drift"]["reference"] == "registry:classifier/1"


def _files(folder: Path) -> dict[Path, bytes]:
    return {
        path.relative_to(folder): path.read_bytes() for path in folder.rglob("*") if path.is_file()
    }


def test_push_then_pull_restores_a_deleted_output(reproduced: Path) -> None:
    run(reproduced, "dvc", "push")
    raw = reproduced / "data/02_intermediate/raw_dataset"
    content = {
        path.relative_to(raw): path.read_bytes() for path in raw.rglob("*") if path.is_file()
    }
    shutil.rmtree(raw)
    shutil.rmtree(reproduced / ".dvc/cache")  # so the remote is what the pull reads
    run(reproduced, "dvc", "pull", "--force")
    restored = {
        path.relative_to(raw): path.read_bytes() for path in raw.rglob("*") if path.is_file()
    }
    assert restored == content


def test_an_evaluation_parameter_reruns_only_evaluation_and_deployment(reproduced: Path) -> None:
    set_parameters(reproduced, {"evaluation": {"min_accuracy": 0.85}})
    result = run(reproduced, "dvc", "repro")
    assert _stages_run(result.stdout) == ["evaluation", "deployment"]
    # The same weights: evaluated again, not registered again.
    assert list_versions(reproduced / "registry", "classifier") == [1]


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


def test_exp_show_compares_the_workspace_main_and_the_experiment(reproduced: Path) -> None:
    """Every revision's metrics come from the DVC cache: no '!' for any of them, and the
    headline figures fit a 120-column terminal."""
    table = run(reproduced, "dvc", "exp", "show", "--md", "--no-pager").stdout
    assert "!" not in table, table
    rows = [line for line in table.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    accuracy = header.index("accuracy")
    values = {
        row.strip("|").split("|")[0].strip(): row.strip("|").split("|")[accuracy].strip()
        for row in rows[2:]
    }
    assert len(values) >= 3, table  # workspace, main and the experiment
    assert all(float(value) > 0.5 for value in values.values()), values
    narrow = run(
        reproduced, "dvc", "exp", "show", "--only-changed", "--no-pager", env={"COLUMNS": "120"}
    ).stdout
    assert "accuracy" in narrow and "macro_f1" in narrow, narrow


def test_exp_branch_and_apply_keep_an_experiment(reproduced: Path) -> None:
    """As DVC documents them: a branch holds the experiment's parameters and lock; apply
    brings its parameters and outputs (from the cache) back into the workspace."""
    names = run(reproduced, "dvc", "exp", "list", "--name-only").stdout.split()
    assert names, "the experiment of the earlier test is listed"
    run(reproduced, "dvc", "exp", "branch", names[0], "three-epochs")
    branch_params = yaml.safe_load(
        run(reproduced, "git", "show", "three-epochs:params.yaml").stdout
    )
    assert branch_params["training"]["epochs"] == 3
    # Back to main's parameters, an output lost: apply brings the experiment back.
    run(reproduced, "git", "checkout", "--", "params.yaml", "dvc.lock")
    assert yaml.safe_load((reproduced / "params.yaml").read_text())["training"]["epochs"] == 40
    metadata = reproduced / "data/07_model_output/training_metadata.json"
    metadata.unlink()
    run(reproduced, "dvc", "exp", "apply", names[0])
    assert yaml.safe_load((reproduced / "params.yaml").read_text())["training"]["epochs"] == 3
    assert json.loads(metadata.read_text())["epochs_run"] == 3
