"""The data validation pipeline passes clean data and stops bad data with a clear message."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure
from PIL import Image

from visionops.dataplane.ingest import make_job, write_arrays
from visionops.dataplane.layout import INDEX_FILE
from visionops.dataplane.reader import ShardedDataset
from visionops.errors import DataValidationError
from visionops.image_dataset import ImageDataset
from visionops.pipelines.data_validation import create_pipeline
from visionops.sources import open_source
from visionops.task import DifferentTaskError

from .conftest import build_catalog, load_parameters, make_dataset, run_pipeline

EXPECTATIONS = Path(__file__).parents[2] / "conf" / "base" / "expectations"
SUITES = {
    f"{name}_suite": json.loads((EXPECTATIONS / f"{name}.json").read_text())
    for name in ("images", "dataset", "classes")
}


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> ShardedDataset:
    """The 1,797 bundled digits, ingested as the ingestion stage does."""
    target = tmp_path_factory.mktemp("digits") / "raw_dataset"
    make_job(open_source("digits", None), {"source": "digits"}).write(target)
    return ShardedDataset(target)


def _version(
    folder: Path, dataset: ImageDataset, labels: np.ndarray | None = None
) -> ShardedDataset:
    """``dataset`` as a dataset version; ``labels`` (some outside the classes) replace
    its labels in the index."""
    write_arrays(dataset, folder / "raw_dataset")
    if labels is not None:
        path = folder / "raw_dataset" / INDEX_FILE
        table = pq.read_table(path)
        column = table.schema.get_field_index("label")
        pq.write_table(table.set_column(column, "label", pa.array(labels, pa.int64())), path)
    return ShardedDataset(folder / "raw_dataset")


def _folder_version(folder: Path, dataset: ImageDataset, broken: tuple[int, ...]) -> ShardedDataset:
    """``dataset`` written as PNG files ``class_k/img_<index>.png``, the files of
    ``broken`` cut short, and ingested."""
    root = folder / "images"
    for index, (image, label) in enumerate(zip(dataset.images, dataset.labels, strict=True)):
        path = root / dataset.class_names[label] / f"img_{index:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0]).save(path)
        if index in broken:
            path.write_bytes(path.read_bytes()[:40])
    params = {"source": "image_folder", "path": str(root), "image_size": [8, 8], "channels": 1}
    make_job(open_source("image_folder", root), params).write(folder / "raw_dataset")
    return ShardedDataset(folder / "raw_dataset")


def _inputs(
    dataset: ShardedDataset, reference: dict | None = None, **overrides: object
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


def _failure(dataset: ShardedDataset, **overrides: object) -> tuple[str, dict]:
    """Runs validation expecting failure; returns the message and the report written."""
    pipeline = create_pipeline()
    catalog = build_catalog(pipeline, _inputs(dataset, **overrides))
    with pytest.raises(DataValidationError) as caught:
        SequentialRunner().run(pipeline, catalog)
    assert not catalog.exists("validated_dataset"), "a failed validation passed data on"
    return str(caught.value), catalog["validation_report"].load()


def test_default_digits_pass_with_no_false_alarm(digits: ShardedDataset) -> None:
    outputs = run_pipeline(create_pipeline(), _inputs(digits))
    report = outputs["validation_report"]
    assert report["success"] is True, report
    assert report["failed"] == 0
    assert report["evaluated"] == sum(len(suite["expectations"]) for suite in SUITES.values())
    assert report["drift"]["reference"] is None
    assert "no production model" in report["drift"]["note"]
    index_bytes = (digits.folder / INDEX_FILE).read_bytes()
    assert outputs["validated_dataset"] == {
        "format": 1,
        "index_sha256": hashlib.sha256(index_bytes).hexdigest(),
        "images": 1797,
        "excluded": [],
    }
    assert len(outputs["image_profile"]) == 1797
    assert {"mean_c0", "std_c0", "saturated_share", "phash", "sha256"} <= set(
        outputs["image_profile"].columns
    )
    assert "index.html" in outputs["data_docs"]
    assert isinstance(outputs["data_drift_plot"], Figure)
    assert sum(outputs["data_profile"]["class_counts"]) == 1797


def test_the_data_profile_of_a_dataset_is_a_reference_it_passes_against(
    digits: ShardedDataset,
) -> None:
    first = run_pipeline(create_pipeline(), _inputs(digits))
    reference = {"origin": "registry:classifier/1", "profile": first["data_profile"]}
    second = run_pipeline(create_pipeline(), _inputs(digits, reference=reference))
    drift = second["validation_report"]["drift"]
    assert drift["reference"] == "registry:classifier/1"
    assert [check["status"] for check in drift["checks"]] == ["ok", "ok"]


def test_unknown_label_is_named_with_an_offending_image(tmp_path: Path) -> None:
    dataset = make_dataset()
    labels = dataset.labels.copy()
    labels[5] = 7
    message, report = _failure(_version(tmp_path, dataset, labels))
    assert "[images] expect_column_values_to_be_in_set(label)" in message
    assert "1 of 120 rows unexpected" in message
    assert "synthetic:5" in message
    assert report["success"] is False


def test_too_few_images_fail_the_row_count(tmp_path: Path) -> None:
    message, _ = _failure(_version(tmp_path, make_dataset(per_class=5)))
    assert "expect_table_row_count_to_be_between" in message
    assert "observed 15" in message


def test_wrong_dtype_is_caught(tmp_path: Path) -> None:
    dataset = make_dataset()
    bad = ImageDataset(
        dataset.images.astype(np.int32), dataset.labels, dataset.class_names, dataset.source_ids
    )
    message, _ = _failure(_version(tmp_path, bad))
    assert "expect_column_values_to_be_in_set(dtype)" in message
    assert "int32" in message


def test_quarantine_sets_unreadable_files_aside_and_lists_them(tmp_path: Path) -> None:
    dataset = _folder_version(tmp_path, make_dataset(), broken=(3,))
    params = load_parameters("data_validation")
    params["on_invalid"] = "quarantine"
    inputs = {**_inputs(dataset), "params:data_validation": params}
    outputs = run_pipeline(create_pipeline(), inputs)
    (quarantined,) = outputs["validation_report"]["quarantined"]
    assert quarantined["file"] == "class_0/img_003.png"
    assert quarantined["error"].startswith("cannot decode image:")
    manifest = outputs["validated_dataset"]
    assert manifest["images"] == 119
    assert manifest["excluded"] == ["class_0/img_003.png"]
    assert manifest["index_sha256"] == (
        hashlib.sha256((dataset.folder / INDEX_FILE).read_bytes()).hexdigest()
    )


def _digits_reference(digits: ShardedDataset) -> dict:
    first = run_pipeline(create_pipeline(), _inputs(digits))
    return {"origin": "registry:classifier/2", "profile": first["data_profile"]}


def test_data_of_another_task_stops_with_one_line_and_the_new_model_command(
    tmp_path: Path, digits: ShardedDataset
) -> None:
    """Other classes and another image shape than the production model's: not drift but
    a new model, and the message says how to train one."""
    pipeline = create_pipeline()
    inputs = _inputs(_version(tmp_path, make_dataset()), reference=_digits_reference(digits))
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


def test_failed_expectations_come_first_and_the_task_advice_last(
    tmp_path: Path, digits: ShardedDataset
) -> None:
    broken = _folder_version(tmp_path, make_dataset(), broken=(0,))
    message, _ = _failure(broken, reference=_digits_reference(digits))
    assert message.startswith("data validation failed on raw_dataset")
    assert "expect_column_values_to_be_in_set(readable)" in message
    assert message.splitlines()[-1].startswith("this data is a different task from")


def test_another_task_than_the_pinned_reference_also_says_how_to_reset_it(
    tmp_path: Path, digits: ShardedDataset
) -> None:
    pinned = {**_digits_reference(digits), "origin": "file:conf/base/reference/classifier.json"}
    pipeline = create_pipeline()
    catalog = build_catalog(pipeline, _inputs(_version(tmp_path, make_dataset()), reference=pinned))
    with pytest.raises(DifferentTaskError) as caught:
        SequentialRunner().run(pipeline, catalog)
    message = str(caught.value)
    assert "(the pinned reference conf/base/reference/classifier.json)" in message
    assert "-S model_name=NAME" in message
    assert message.endswith("visionops validate --init-suite --force")
