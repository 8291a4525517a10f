"""Training learns, evaluation scores and blesses, deployment registers only what is blessed."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from visionops.dataplane.ingest import write_arrays
from visionops.dataplane.reader import ShardedDataset
from visionops.datasets import ModelRegistryDataset
from visionops.datasets.training_run import LiveLog
from visionops.evaluation.production import ProductionModel
from visionops.image_dataset import ImageDataset
from visionops.modeling.checkpoint import CheckpointStore
from visionops.modeling.trainer import weights_sha256
from visionops.pipelines.deployment import create_pipeline as deployment_pipeline
from visionops.pipelines.evaluation import create_pipeline as evaluation_pipeline
from visionops.pipelines.training import create_pipeline as training_pipeline
from visionops.registry.layout import list_versions, read_labels

from .conftest import build_catalog, load_parameters, make_dataset, run_pipeline


def _split_folders(folder: Path) -> dict:
    """Train, val and test split folders (120, 30 and 30 images, in shards of 32) of a
    small synthetic set, and the test split in memory as ``test_images``."""
    dataset = make_dataset(per_class=60)
    order = np.random.default_rng(0).permutation(len(dataset))
    parts = {"train_split": order[:120], "val_split": order[120:150], "test_split": order[150:]}
    splits: dict = {"test_images": dataset.subset(order[150:])}
    for name, rows in parts.items():
        write_arrays(dataset.subset(rows), folder / name, images_per_shard=32)
        splits[name] = ShardedDataset(folder / name)
    return splits


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Split folders of a small synthetic set and a model trained on them for a few epochs."""
    splits = _split_folders(tmp_path_factory.mktemp("splits"))
    params = {**load_parameters("training"), "epochs": 6, "batch_size": 16}
    outputs = run_pipeline(
        training_pipeline(),
        {
            "train_split": splits["train_split"],
            "val_split": splits["val_split"],
            "training_checkpoints": CheckpointStore(tmp_path_factory.mktemp("checkpoint")),
            "training_live_log": LiveLog(tmp_path_factory.mktemp("dvclive")),
            "params:training": params,
        },
    )
    return {**splits, **outputs}


def test_training_loss_goes_down_and_model_outputs_probabilities(trained: dict) -> None:
    history = trained["training_history"]
    assert [record["epoch"] for record in history] == list(range(1, 7))
    assert history[-1]["loss"] < history[0]["loss"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(history[0])
    assert trained["training_metadata"]["epochs_run"] == 6
    assert len(trained["training_metadata"]["weights_sha256"]) == 64
    images = trained["test_split"].read_images(range(4))
    probabilities = trained["model"].predict(images.astype(np.float32), verbose=0)
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def _evaluate(trained: dict, production: object = None, **overrides: object) -> dict:
    params = {**load_parameters("evaluation"), "latency_samples": 5, **overrides}
    return run_pipeline(
        evaluation_pipeline(),
        {
            "model": trained["model"],
            "test_split": trained["test_split"],
            "production_model": production,
            "run_context": {"actor": "tester@ci", "time": "2026-11-28T00:00:00+00:00"},
            "params:model_name": "classifier",
            "params:ingestion": load_parameters("ingestion"),
            "params:evaluation": params,
        },
    )


def test_evaluation_scores_the_test_split_and_blesses_above_the_threshold(trained: dict) -> None:
    outputs = _evaluate(trained)
    metrics = outputs["evaluation_report"]
    assert outputs["metrics"] == {
        key: metrics[key] for key in ("accuracy", "macro_f1", "expected_calibration_error")
    }, "the DVC metrics file holds the headline figures only"
    assert metrics["test_images"] == len(trained["test_split"])
    assert metrics["accuracy"] >= 0.9, "three banded classes are easy to separate"
    assert 0.0 <= metrics["macro_f1"] <= 1.0
    assert list(outputs["test_predictions"].columns) == ["actual", "predicted"]
    assert len(outputs["test_predictions"]) == metrics["test_images"]
    assert set(metrics["per_class"]) == set(trained["test_split"].class_names)
    assert set(metrics["per_class"]["class_0"]) == {"precision", "recall", "f1", "support"}
    assert 0.0 <= metrics["expected_calibration_error"] <= 1.0
    latency = outputs["evaluation_performance"]["latency"]
    assert latency["p99_ms"] >= latency["p50_ms"] > 0
    assert "latency" not in metrics, "measurements stay out of the DVC outputs"
    assert metrics["production"] is None
    assert outputs["blessing"]["blessed"] is True
    assert "meets the minimum" in outputs["blessing"]["reason"]
    assert "no model is in production yet" in outputs["blessing"]["reason"]
    assert outputs["confusion_matrix_plot"].axes[0].get_title().startswith("Confusion matrix")
    assert "Worst mistakes" in outputs["worst_mistakes_plot"].get_suptitle() or "No mistakes" in (
        outputs["worst_mistakes_plot"].get_suptitle()
    )


def test_evaluation_scores_are_those_of_the_predictions_it_writes(
    trained: dict, tmp_path: Path
) -> None:
    """Some test labels moved to the next class, so that the model makes mistakes: the
    report's scores are then those of the predictions file, counted by hand."""
    split: ImageDataset = trained["test_images"]
    labels = split.labels.copy()
    labels[::4] = (labels[::4] + 1) % len(split.class_names)
    write_arrays(dataclasses.replace(split, labels=labels), tmp_path / "test")
    outputs = _evaluate({**trained, "test_split": ShardedDataset(tmp_path / "test")})
    metrics, predictions = outputs["evaluation_report"], outputs["test_predictions"]
    assert (predictions["actual"] != predictions["predicted"]).any()
    # Per class, precision is the share of its predictions that are right and recall the
    # share of its images found; macro F1 averages their harmonic means, each class alike.
    f1_scores = []
    for name, scores in metrics["per_class"].items():
        predicted, actual = predictions["predicted"] == name, predictions["actual"] == name
        right = int((predicted & actual).sum())
        precision, recall = right / max(predicted.sum(), 1), right / max(actual.sum(), 1)
        f1 = 2 * precision * recall / (precision + recall) if right else 0.0
        by_hand = {"precision": precision, "recall": recall, "f1": f1, "support": actual.sum()}
        assert scores == pytest.approx(by_hand), name
        f1_scores.append(f1)
    assert metrics["macro_f1"] == pytest.approx(sum(f1_scores) / len(f1_scores))
    right = (predictions["actual"] == predictions["predicted"]).mean()
    assert metrics["accuracy"] == pytest.approx(right)
    assert metrics["test_images"] == len(predictions) == len(labels)


def test_evaluation_refuses_the_blessing_below_the_threshold(trained: dict) -> None:
    blessing = _evaluate(trained, min_accuracy=1.01)["blessing"]
    assert blessing["blessed"] is False
    assert "is below the minimum 1.0100" in blessing["reason"]


def _retrained(trained: dict, seed: int) -> dict:
    """The trained model with other weights (as a retrain would give), and its metadata."""
    import keras

    model = keras.models.clone_model(trained["model"])
    rng = np.random.default_rng(seed)
    model.set_weights(
        [w + rng.normal(0, 1e-3, w.shape).astype(w.dtype) for w in trained["model"].get_weights()]
    )
    metadata = {**trained["training_metadata"], "weights_sha256": weights_sha256(model)}
    return {**trained, "model": model, "training_metadata": metadata}


def _deploy(trained: dict, root: Path, blessing: dict, approvals_required: int = 0) -> dict:
    pipeline = deployment_pipeline()
    registry = ModelRegistryDataset(path=str(root))
    catalog = build_catalog(
        pipeline,
        {
            "model": trained["model"],
            "test_split": trained["test_split"],
            "evaluation_report": {"accuracy": 0.95},
            "blessing": blessing,
            "data_profile": {"format": 1, "images": 0},
            "validation_report": {"success": True, "images": 180, "evaluated": 16, "failed": 0},
            "training_metadata": trained["training_metadata"],
            "model_registry": registry.load(),
            "lineage_sources": {
                "code": {"commit": "abc123", "dirty": False},
                "stages": {"training": {"deps": {}, "outs": {"data/06_models/model.keras": "f00"}}},
                "parameters": {"training": {"epochs": 6}},
            },
            "run_context": {
                "actor": "tester@ci",
                "time": "2026-11-28T00:00:00+00:00",
                "approvals": {"required": approvals_required, "source": "conf/base/release.yml"},
            },
            "params:model_name": "classifier",
            "params:deployment": load_parameters("deployment"),
        },
    )
    catalog["registered_model"] = registry
    from kedro.runner import SequentialRunner

    SequentialRunner().run(pipeline, catalog)
    return catalog["deployment_report"].load()


def test_deployment_registers_blessed_models_as_new_versions(trained: dict, tmp_path: Path) -> None:
    blessed = {"blessed": True, "reason": "test accuracy 0.95 meets the minimum 0.90"}
    first = _deploy(trained, tmp_path, {**blessed, "champion_version": None})
    retrained = _retrained(trained, seed=1)
    second = _deploy(retrained, tmp_path, {**blessed, "champion_version": 1})
    assert (first["version"], second["version"]) == (1, 2)
    assert list_versions(tmp_path, "classifier") == [1, 2]
    assert read_labels(tmp_path) == {"classifier": {"production": 2}}
    lineage = json.loads((tmp_path / "classifier/2/assets.extra/lineage.json").read_text())
    assert lineage["format"] == 1
    assert {"code", "stages", "parameters", "validation", "training", "metrics"} <= set(lineage)
    assert lineage["class_names"] == ["class_0", "class_1", "class_2"], "from the split's meta"
    assert lineage["image_shape"] == [8, 8, 1]
    assert lineage["validation"]["quarantined"] == 0
    assert lineage["infra_validation"]["samples"] == 30, "the test split's first (only) 30"
    assert lineage["infra_validation"]["passed"] is True
    assert lineage["infra_validation"]["max_difference"]["serving_default"] <= 1e-4
    assert lineage["registered_by"] == "tester@ci"
    assert lineage["code"] == {"commit": "abc123", "dirty": False}
    assert lineage["stages"]["training"]["outs"]["data/06_models/model.keras"] == "f00"
    assert lineage["training"]["weights_sha256"] == retrained["training_metadata"]["weights_sha256"]
    assert lineage["validation"]["success"] is True
    assert "saved_model.pb" in lineage["files"]


def test_with_approvals_required_a_new_version_waits_as_candidate(
    trained: dict, tmp_path: Path
) -> None:
    """The gate cannot be passed by the pipeline: a new version has no approvals yet."""
    blessed = {"blessed": True, "reason": "test accuracy 0.95 meets the minimum 0.90"}
    _deploy(trained, tmp_path, {**blessed, "champion_version": None})
    report = _deploy(
        _retrained(trained, seed=1),
        tmp_path,
        {**blessed, "champion_version": 1},
        approvals_required=2,
    )
    assert report["version"] == 2 and report["labels"] == ["candidate"]
    assert report["approvals"].startswith(
        "production not moved: conf/base/release.yml requires 2 approval(s)"
    )
    assert "`visionops models approve classifier:2 --reason ...` (2 people)" in report["approvals"]
    assert read_labels(tmp_path) == {"classifier": {"production": 1, "candidate": 2}}


def test_deployment_of_an_unblessed_model_registers_nothing(trained: dict, tmp_path: Path) -> None:
    report = _deploy(trained, tmp_path, {"blessed": False, "reason": "accuracy 0.5 is below 0.9"})
    assert report["registered"] is False
    assert "accuracy 0.5 is below 0.9" in report["reason"]
    assert list_versions(tmp_path, "classifier") == []
    assert not (tmp_path / "models.config").exists()


def test_a_blessing_against_a_production_version_since_replaced_deploys_nothing(
    trained: dict, tmp_path: Path
) -> None:
    """Production moved after the evaluation (say its results were cached): no deployment."""
    blessed = {"blessed": True, "reason": "as good as production", "champion_version": None}
    _deploy(trained, tmp_path, blessed)  # version 1 becomes production
    before = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))
    config = (tmp_path / "models.config").read_text()
    retrained = _retrained(trained, seed=2)
    report = _deploy(retrained, tmp_path, blessed)  # the same blessing, now stale
    assert report["registered"] is False
    assert "compared this model with no production version" in report["reason"]
    assert "the registry now has production version 1" in report["reason"]
    assert "dvc repro --force --single-item evaluation" in report["reason"]
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == before
    assert (tmp_path / "models.config").read_text() == config
    # A forced blessing does not rest on the comparison, so it still deploys.
    forced = {**blessed, "forced": {"by": "tester@ci", "at": "2026-11-28", "reason": "hotfix"}}
    assert _deploy(retrained, tmp_path, forced)["version"] == 2


def test_the_same_weights_are_not_registered_again(trained: dict, tmp_path: Path) -> None:
    """A rerun on the same inputs trains the same weights: it says which version they are."""
    blessed = {"blessed": True, "reason": "meets the minimum", "champion_version": None}
    assert _deploy(trained, tmp_path, blessed)["version"] == 1
    before = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    report = _deploy(trained, tmp_path, {**blessed, "champion_version": 1})
    assert report["registered"] is False
    assert "are classifier:1 [production] already" in report["reason"]
    assert {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()} == before
    # Even a forced blessing does not copy a version.
    forced = {**blessed, "forced": {"by": "tester@ci", "at": "2026-11-28", "reason": "again"}}
    assert _deploy(trained, tmp_path, forced)["registered"] is False
    assert list_versions(tmp_path, "classifier") == [1]


def test_a_production_model_of_another_task_stops_evaluation_with_the_command(
    trained: dict,
) -> None:
    """With drift checks off, evaluation is the first stage to notice the new task."""
    from visionops.task import DifferentTaskError

    digits = ProductionModel(
        version=3,
        image_shape=(8, 8, 1),
        class_names=tuple(str(digit) for digit in range(10)),
        signature=None,
    )
    with pytest.raises(DifferentTaskError, match="a different task from 'classifier'") as caught:
        _evaluate(trained, production=digits)
    message = str(caught.value)
    assert "(production version 3): classes [class_0, class_1, class_2], not [0, 1" in message
    assert message.endswith("-S model_name=NAME")
