"""A corpus of bad data: each kind must fail the gate, naming what is wrong and where.

Each test spoils a clean dataset (160 distinct natural-ish 32x32x3 images of four
classes, ``synthetic:<index>`` or ``<class>/img_<index>.png``) in one way, makes it a
dataset version as the ingestion stage would (arrays, an NPZ file or an image folder),
and checks what a user reads: that the right expectation or drift check failed, its
observed and expected values, how many rows, and an offending file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bombs import SIDE, jpeg_bomb, png_bomb
from visionops.dataplane.reader import ShardedDataset
from visionops.errors import DataValidationError
from visionops.image_dataset import ImageDataset
from visionops.sources.image_folder import MAX_IMAGE_PIXELS
from visionops.validation.leakage import check_leakage

ROWS = 160
FAILURE_LINE = re.compile(r"  - (?:\[\w+\] )?(?P<name>[^:]+):")


def failures(message: str) -> list[str]:
    """What a failure message names as failed: ``type(column)`` for an expectation,
    ``drift <check>`` for a drift check."""
    return [match["name"] for line in message.splitlines() if (match := FAILURE_LINE.match(line))]


def replaced(
    dataset: ImageDataset, images: np.ndarray | None = None, **fields: Any
) -> ImageDataset:
    """``dataset`` with other images and/or other fields (labels, class_names, ...)."""
    values = {
        "images": dataset.images if images is None else images,
        "labels": dataset.labels,
        "class_names": dataset.class_names,
        "source_ids": dataset.source_ids,
    }
    return ImageDataset(**{**values, **fields})


def truncate(path: Path) -> None:
    """Cuts ``path`` to half its bytes, as an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_an_image_of_another_size_is_named(validate, ingest, image_folder) -> None:
    root, paths = image_folder
    original = np.asarray(Image.open(paths[5]))
    Image.fromarray(original).resize((24, 24), Image.Resampling.BILINEAR).save(paths[5])

    outcome, message = validate(ingest("image_folder", root, image_size=None))

    assert outcome.report["success"] is False
    assert "expect_column_values_to_be_in_set(shape)" in failures(message)
    assert "expected value_set=['32x32x3']; 1 of 160 rows unexpected" in message
    assert "e.g. cloud/img_005.png: 24x24x3" in message


@pytest.mark.parametrize("channels", [2, 4])
def test_a_wrong_channel_count_is_caught(validate, ingest, clean, tmp_path, channels: int) -> None:
    """An NPZ export of gray+alpha or RGBA images: consistent in shape, wrong in channels."""
    alpha = np.full((ROWS, 32, 32, 1), 255, dtype=np.uint8)
    colour = clean.images[..., :1] if channels == 2 else clean.images
    path = tmp_path / "export.npz"
    np.savez(path, images=np.concatenate([colour, alpha], axis=3), labels=clean.labels)

    outcome, message = validate(ingest("npz", path))

    assert outcome.report["success"] is False
    assert failures(message) == ["expect_column_values_to_be_in_set(channels)"]
    assert "expected value_set=[1, 3]; 160 of 160 rows unexpected" in message
    assert f"e.g. export.npz:0: {channels}" in message


def test_nan_and_inf_pixels_name_their_images(validate, clean) -> None:
    images = clean.images.astype(np.float32)
    images[7, 3, 4, 1] = np.nan
    images[12, 0, 0, 0] = np.inf

    outcome, message = validate(replaced(clean, images), dtypes=["float32"])

    assert outcome.report["success"] is False
    # One NaN must not spoil the other statistics into more failures.
    assert failures(message) == ["expect_column_values_to_be_in_set(finite)"]
    assert "expected value_set=[True]; 2 of 160 rows unexpected" in message
    assert "e.g. synthetic:7: False" in message
    assert "e.g. synthetic:12: False" in message


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [("max", 300.0, "expected max_value=255.0"), ("min", -5.0, "expected min_value=0.0")],
)
def test_pixels_out_of_range_are_caught(
    validate, clean, column: str, value: float, expected: str
) -> None:
    images = clean.images.astype(np.float32)
    images[3, 10, 10, 2] = value

    outcome, message = validate(replaced(clean, images), dtypes=["float32"])

    assert outcome.report["success"] is False
    assert failures(message) == [f"expect_column_values_to_be_between({column})"]
    assert f"{expected}; 1 of 160 rows unexpected" in message
    assert f"e.g. synthetic:3: {value}" in message


@pytest.mark.parametrize("label", [4, -1])
def test_a_label_outside_the_classes_is_named(validate, to_version, clean, label: int) -> None:
    labels = clean.labels.copy()
    labels[5] = label

    outcome, message = validate(to_version(clean, labels=labels))

    assert outcome.report["success"] is False
    assert failures(message) == ["expect_column_values_to_be_in_set(label)"]
    assert "expected value_set=[0, 1, 2, 3]; 1 of 160 rows unexpected" in message
    assert f"e.g. synthetic:5: {label}" in message


def test_an_empty_dataset_fails_the_row_count_without_crashing(validate, clean) -> None:
    empty = clean.subset(np.arange(0))

    outcome, message = validate(empty)

    assert outcome.report["success"] is False
    assert outcome.report["images"] == 0
    assert outcome.image_profile.empty
    assert outcome.data_profile["class_counts"] == [0, 0, 0, 0]
    assert "expect_table_row_count_to_be_between" in failures(message)
    assert "expect_table_row_count_to_be_between: expected min_value=100; observed 0" in message
    assert message.startswith("data validation failed on raw_dataset (0 images)")


def test_a_single_class_fails_min_classes(validate, clean) -> None:
    single = replaced(clean, labels=np.zeros(ROWS, dtype=np.int64), class_names=("cloud",))

    outcome, message = validate(single)

    assert outcome.report["success"] is False
    assert failures(message) == ["expect_column_unique_value_count_to_be_between(label)"]
    assert "expected min_value=2; observed 1" in message


def test_class_imbalance_past_tolerance_names_the_class(validate, clean) -> None:
    """Five images of ``sea`` against 40 of each other class: 0.16 of an even share."""
    kept = np.concatenate([np.arange(120), np.arange(120, 125)])

    outcome, message = validate(clean.subset(kept))

    assert outcome.report["success"] is False
    assert failures(message) == ["expect_column_values_to_be_between(share_ratio)"]
    assert "expected min_value=0.5, max_value=2.0; 1 of 4 rows unexpected" in message
    assert "e.g. sea: 0.16" in message


SPLIT_ROWS = [np.arange(0, 100), np.arange(100, 130), np.arange(130, 160)]


def _leakage_message(
    dataset: ShardedDataset, splits_suite: dict[str, Any], params: dict[str, Any]
) -> str:
    """The leakage check's message when train, val and test are :data:`SPLIT_ROWS`."""
    with pytest.raises(DataValidationError) as caught:
        check_leakage(
            dataset.index, dataset.thumbnails(), SPLIT_ROWS, splits_suite, params["near_duplicates"]
        )
    return str(caught.value)


def test_the_same_image_in_train_and_test_is_leakage(
    to_version, clean, splits_suite, params
) -> None:
    images = clean.images.copy()
    images[130] = images[3]

    message = _leakage_message(to_version(replaced(clean, images)), splits_suite, params)

    assert failures(message) == ["expect_column_values_to_be_in_set(exact_copy_in_other_split)"]
    assert "expected value_set=['']; 2 of 160 rows unexpected" in message
    assert "e.g. train:synthetic:3: test:synthetic:130" in message
    assert "e.g. test:synthetic:130: train:synthetic:3" in message


@pytest.mark.parametrize("copy_kind", ["resized", "jpeg"])
def test_a_near_duplicate_across_splits_is_leakage(
    to_version, clean, splits_suite, params, make_resized_copy, make_jpeg_copy, copy_kind: str
) -> None:
    """A 48x48 round trip, or a quality 90 JPEG, of a training image in the test split."""
    copy_of = make_resized_copy if copy_kind == "resized" else make_jpeg_copy
    images = clean.images.copy()
    images[130] = copy_of(images[3])
    assert not np.array_equal(images[130], images[3])

    message = _leakage_message(to_version(replaced(clean, images)), splits_suite, params)

    assert failures(message) == ["expect_column_values_to_be_in_set(near_copy_in_other_split)"]
    assert "expected value_set=['']; 2 of 160 rows unexpected" in message
    assert "e.g. train:synthetic:3: test:synthetic:130" in message
    assert "e.g. test:synthetic:130: train:synthetic:3" in message


def test_one_image_with_two_labels_is_named(validate, clean) -> None:
    images = clean.images.copy()
    images[50] = images[0]  # a cloud image filed under forest as well

    outcome, message = validate(replaced(clean, images))

    assert outcome.report["success"] is False
    assert failures(message) == ["expect_column_values_to_be_between(labels_per_content)"]
    assert "expected max_value=1.0; 2 of 160 rows unexpected" in message
    assert "e.g. synthetic:0: 2" in message
    assert "e.g. synthetic:50: 2" in message


def test_blank_images_fail_the_std_expectation(validate, clean) -> None:
    rng = np.random.default_rng(1)
    images = clean.images.copy()
    images[10] = 128
    images[20] = 60 + rng.integers(0, 3, size=images[20].shape)  # a faint sensor hum

    outcome, message = validate(replaced(clean, images))

    assert outcome.report["success"] is False
    assert failures(message) == ["expect_column_values_to_be_between(std)"]
    assert "expected min_value=2.0; 2 of 160 rows unexpected" in message
    assert "e.g. synthetic:10: 0.0" in message
    assert "e.g. synthetic:20: 0.8" in message


def test_a_truncated_png_is_named(validate, ingest, image_folder) -> None:
    root, paths = image_folder
    truncate(paths[5])

    outcome, message = validate(ingest("image_folder", root))

    assert outcome.report["success"] is False
    assert failures(message) == ["expect_column_values_to_be_in_set(readable)"]
    assert "expected value_set=[True]; 1 of 160 rows unexpected" in message
    assert "e.g. cloud/img_005.png: cannot decode image: image file is truncated" in message


def test_a_file_that_is_not_an_image_is_named(validate, ingest, image_folder) -> None:
    root, _ = image_folder
    (root / "sea" / "notes.png").write_text("annotations: 40 sea images\n")

    outcome, message = validate(ingest("image_folder", root))

    assert outcome.report["success"] is False
    assert failures(message) == ["expect_column_values_to_be_in_set(readable)"]
    assert "expected value_set=[True]; 1 of 161 rows unexpected" in message
    assert "e.g. sea/notes.png: cannot decode image: cannot identify image file" in message


@pytest.mark.parametrize(("bomb", "name"), [(png_bomb, "huge.png"), (jpeg_bomb, "huge.jpg")])
def test_a_decompression_bomb_is_named(validate, ingest, image_folder, bomb, name: str) -> None:
    """A file of a few hundred bytes declaring 20000x20000 pixels is refused, not decoded."""
    root, _ = image_folder
    (root / "sea" / name).write_bytes(bomb())

    outcome, message = validate(ingest("image_folder", root))

    assert outcome.report["success"] is False
    assert failures(message) == ["expect_column_values_to_be_in_set(readable)"]
    assert "expected value_set=[True]; 1 of 161 rows unexpected" in message
    assert (
        f"e.g. sea/{name}: cannot decode image: declares {SIDE}x{SIDE} pixels (400,000,000), "
        f"over the limit of {MAX_IMAGE_PIXELS:,}" in message
    )


def test_a_brightness_shift_fails_the_intensity_drift_check(validate, clean) -> None:
    baseline, _ = validate(clean)
    reference = {"origin": "file:data_profile.json", "profile": baseline.data_profile}
    brighter = np.clip(clean.images.astype(np.int16) + 60, 0, 255).astype(np.uint8)

    outcome, message = validate(replaced(clean, brighter), reference=reference)

    assert outcome.report["success"] is False
    assert outcome.report["failed"] == 0
    statuses = {check["check"]: check["status"] for check in outcome.report["drift"]["checks"]}
    assert statuses["class_distribution"] == "ok"
    assert failures(message) == [f"drift intensity[channel {index}]" for index in range(3)]
    assert "drift against file:data_profile.json:" in message
    assert "exceeds 0.1" in message
    mean_before, mean_after = re.search(
        r"mean intensity ([\d.]+) in the reference, ([\d.]+) now", message
    ).groups()
    assert 40 < float(mean_after) - float(mean_before) <= 60


def test_quarantine_sets_one_truncated_file_aside(validate, ingest, image_folder) -> None:
    root, paths = image_folder
    truncate(paths[5])

    outcome, _ = validate(ingest("image_folder", root), on_invalid="quarantine")

    assert outcome.report["success"] is True
    assert outcome.report["quarantined"] == [
        {"file": "cloud/img_005.png", "error": "cannot decode image: image file is truncated"}
    ]


def test_quarantine_fails_when_too_many_files_are_unreadable(
    validate, ingest, image_folder
) -> None:
    """Ten of 160 (6.25%) is above max_invalid_share (5%)."""
    root, paths = image_folder
    for path in paths[::16]:
        truncate(path)

    outcome, message = validate(ingest("image_folder", root), on_invalid="quarantine")

    assert outcome.report["success"] is False
    assert len(outcome.report["quarantined"]) == 10
    assert failures(message) == ["expect_column_values_to_be_in_set(readable)"]
    assert "expected mostly=0.95, value_set=[True]; 10 of 160 rows unexpected" in message
    assert "e.g. cloud/img_000.png: cannot decode image: image file is truncated" in message
    assert "10 unreadable file(s) set aside:" in message
