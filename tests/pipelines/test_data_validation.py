"""The data validation pipeline passes clean data and stops bad data with a clear message."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from visionops.errors import DataValidationError
from visionops.image_dataset import ImageDataset
from visionops.pipelines.data_validation import create_pipeline
from visionops.sources.digits import read_digits
from visionops.task import DifferentTaskError

from .conftest import build_catalog, load_parameters, make_dataset, run_pipeline

EXPECTATIONS = Path(__file__).parents[2] / "conf" / "base" / "expectations"
SUITES = {
    f"{name}_suite": json.loads((EXPECTATIONS / f"{name}.json").read_text())
    for name in ("images", "dataset", "classes")
}


def _inputs(
    dataset: ImageDataset, reference: dict | None = None, **overrides: object
) -> dict[str, object]:
    params = load_parameters("data_validation")
    params["expectations"] = {**params["expectations"], **overrides}
    return {
        "raw_dataset": dataset,
        **SUITES,
        "drift_reference": reference,
        "params:data_validation": params,
        "params:model_name": "classifier",
        "params:ingestion": load_parameters("ingestion"),
    }


def _failure(dataset: ImageDataset, **overrides: object) -> tuple[str, dict]:
    """Runs validation expecting failure; returns the message and the report written."""
    pipeline = create_pipeline()
    catalog = build_catalog(pipeline, _inputs(dataset, **overrides))
    with pytest.raises(DataValidationError) as caught:
        SequentialRunner().run(pipeline, catalog)
    assert not catalog.exists("validated_dataset"), "a failed validation passed data on"
    return str(caught.value), catalog["validation_report"].load()


def test_default_digits_pass_with_no_false_alarm() -> None:
    outputs = run_pipeline(create_pipeline(), _inputs(read_digits()))
    report = outputs["validation_report"]
    assert report["success"] is True, report
    assert report["failed"] == 0
    assert report["evaluated"] == sum(len(suite["expectations"]) for suite in SUITES.values())
    assert report["drift"]["reference"] is None
    assert "no production model" in report["drift"]["note"]
    assert len(outputs["validated_dataset"]) == 1797
    assert len(outputs["image_profile"]) == 1797
    assert {"mean_c0", "std_c0", "saturated_share", "phash", "sha256"} <= set(
        outputs["image_profile"].columns
    )
    assert "index.html" in outputs["data_docs"]
    assert isinstance(outputs["data_drift_plot"], Figure)
    assert sum(outputs["data_profile"]["class_counts"]) == 1797


def test_the_data_profile_of_a_dataset_is_a_reference_it_passes_against() -> None:
    first = run_pipeline(create_pipeline(), _inputs(read_digits()))
    reference = {"origin": "registry:classifier/1", "profile": first["data_profile"]}
    second = run_pipeline(create_pipeline(), _inputs(read_digits(), reference=reference))
    drift = second["validation_report"]["drift"]
    assert drift["reference"] == "registry:classifier/1"
    assert [check["status"] for check in drift["checks"]] == ["ok", "ok"]


def test_unknown_label_is_named_with_an_offending_image() -> None:
    dataset = make_dataset()
    labels = dataset.labels.copy()
    labels[5] = 7
    bad = ImageDataset(dataset.images, labels, dataset.class_names, dataset.source_ids)
    message, report = _failure(bad)
    assert "[images] expect_column_values_to_be_in_set(label)" in message
    assert "1 of 120 rows unexpected" in message
    assert "synthetic:5" in message
    assert report["success"] is False


def test_too_few_images_fail_the_row_count() -> None:
    message, _ = _failure(make_dataset(per_class=5))
    assert "expect_table_row_count_to_be_between" in message
    assert "observed 15" in message


def test_wrong_dtype_is_caught() -> None:
    dataset = make_dataset()
    bad = ImageDataset(
        dataset.images.astype(np.int32), dataset.labels, dataset.class_names, dataset.source_ids
    )
    message, _ = _failure(bad)
    assert "expect_column_values_to_be_in_set(dtype)" in message
    assert "int32" in message


def test_quarantine_sets_unreadable_files_aside_and_lists_them() -> None:
    dataset = make_dataset()
    errors = np.full(len(dataset), "", dtype=object)
    errors[3] = "cannot identify image file"
    images = dataset.images.copy()
    images[3] = 0
    broken = ImageDataset(
        images, dataset.labels, dataset.class_names, dataset.source_ids, read_errors=errors
    )
    params = load_parameters("data_validation")
    params["on_invalid"] = "quarantine"
    inputs = {**_inputs(broken), "params:data_validation": params}
    outputs = run_pipeline(create_pipeline(), inputs)
    assert outputs["validation_report"]["quarantined"] == [
        {"file": "synthetic:3", "error": "cannot identify image file"}
    ]
    assert len(outputs["validated_dataset"]) == len(dataset) - 1
    assert "synthetic:3" not in outputs["validated_dataset"].source_ids
    assert outputs["validated_dataset"].read_errors is None


def _digits_reference() -> dict:
    digits = run_pipeline(create_pipeline(), _inputs(read_digits()))
    return {"origin": "registry:classifier/2", "profile": digits["data_profile"]}


def test_data_of_another_task_stops_with_one_line_and_the_new_model_command() -> None:
    """Other classes and another image shape than the production model's: not drift but
    a new model, and the message says how to train one."""
    pipeline = create_pipeline()
    inputs = _inputs(make_dataset(per_class=40), reference=_digits_reference())
    inputs["params:ingestion"] = {"source": "image_folder", "path": "data/01_raw/pets"}
    catalog = build_catalog(pipeline, inputs)
    with pytest.raises(DifferentTaskError) as caught:
        SequentialRunner().run(pipeline, catalog)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "this data is a different task from 'classifier' (production version 2): classes ["
    )
    assert message.endswith(
        "dvc exp run -S ingestion.source=image_folder -S ingestion.path=data/01_raw/pets "
        "-S model_name=NAME"
    )
    assert not catalog.exists("validated_dataset")
    drift = catalog["validation_report"].load()["drift"]
    assert drift["checks"] == [] and "different_task" in drift, "no distance between tasks"


def test_failed_expectations_come_first_and_the_task_advice_last() -> None:
    dataset = make_dataset(per_class=40)
    broken = dataset.readable.copy()
    broken[0] = False
    message, _ = _failure(
        replace(dataset, read_errors=np.where(broken, "", "truncated")),
        reference=_digits_reference(),
    )
    assert message.startswith("data validation failed on raw_dataset")
    assert "expect_column_values_to_be_in_set(readable)" in message
    assert message.splitlines()[-1].startswith("this data is a different task from")


def test_another_task_than_the_pinned_reference_also_says_how_to_reset_it() -> None:
    pinned = {**_digits_reference(), "origin": "file:conf/base/reference/classifier.json"}
    pipeline = create_pipeline()
    catalog = build_catalog(pipeline, _inputs(make_dataset(per_class=40), reference=pinned))
    with pytest.raises(DifferentTaskError) as caught:
        SequentialRunner().run(pipeline, catalog)
    message = str(caught.value)
    assert "(the pinned reference conf/base/reference/classifier.json)" in message
    assert "-S model_name=NAME" in message
    assert message.endswith("visionops validate --init-suite --force")
