"""The data validation pipeline passes clean data and stops bad data with a clear message."""

import json
from pathlib import Path

import numpy as np
import pytest
from kedro.runner import SequentialRunner

from visionops.errors import DataValidationError
from visionops.image_dataset import ImageDataset
from visionops.pipelines.data_validation import create_pipeline
from visionops.sources.digits import read_digits

from .conftest import build_catalog, load_parameters, make_dataset, run_pipeline

SUITE = json.loads(
    (Path(__file__).parents[2] / "conf" / "base" / "expectations" / "raw_images.json").read_text()
)


def _inputs(dataset: ImageDataset, **overrides: object) -> dict[str, object]:
    params = {**load_parameters("data_validation"), **overrides}
    return {"raw_dataset": dataset, "raw_images_suite": SUITE, "params:data_validation": params}


def _failure(dataset: ImageDataset, **overrides: object) -> tuple[str, dict]:
    """Runs validation expecting failure; returns the message and the report written."""
    pipeline = create_pipeline()
    catalog = build_catalog(pipeline, _inputs(dataset, **overrides))
    with pytest.raises(DataValidationError) as caught:
        SequentialRunner().run(pipeline, catalog)
    return str(caught.value), catalog["validation_report"].load()


def test_default_digits_pass_with_no_false_alarm() -> None:
    outputs = run_pipeline(create_pipeline(), _inputs(read_digits()))
    report = outputs["validation_report"]
    assert report["success"] is True
    assert report["failed"] == 0
    assert report["evaluated"] == len(SUITE["expectations"])
    assert len(outputs["validated_dataset"]) == 1797


def test_unknown_label_is_named_with_an_offending_image() -> None:
    dataset = make_dataset()
    labels = dataset.labels.copy()
    labels[5] = 7
    bad = ImageDataset(dataset.images, labels, dataset.class_names, dataset.source_ids)
    message, report = _failure(bad)
    assert "expect_column_values_to_be_in_set(label)" in message
    assert "1 of 120 images unexpected" in message
    assert "synthetic:5" in message
    assert report["success"] is False


def test_too_few_images_fail_the_row_count() -> None:
    message, _ = _failure(make_dataset(per_class=5))
    assert "expect_table_row_count_to_be_between" in message
    assert "observed 15" in message


def test_nan_and_out_of_range_float_pixels_are_caught() -> None:
    dataset = make_dataset()
    images = dataset.images.astype(np.float32)
    images[0, 0, 0, 0] = np.nan
    images[1, 0, 0, 0] = 300.0
    bad = ImageDataset(images, dataset.labels, dataset.class_names, dataset.source_ids)
    message, _ = _failure(bad, dtypes=["uint8", "float32"])
    assert "expect_column_values_to_be_in_set(finite)" in message
    assert "synthetic:0" in message
    assert "expect_column_values_to_be_between(max)" in message
    assert "synthetic:1" in message


def test_wrong_dtype_is_caught() -> None:
    dataset = make_dataset()
    bad = ImageDataset(
        dataset.images.astype(np.int32), dataset.labels, dataset.class_names, dataset.source_ids
    )
    message, _ = _failure(bad)
    assert "expect_column_values_to_be_in_set(dtype)" in message
    assert "int32" in message
