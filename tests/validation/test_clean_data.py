"""Clean data passes the gate: no failed expectation, no false duplicate, no drift."""

from __future__ import annotations

import numpy as np
import pytest

from visionops.image_dataset import ImageDataset
from visionops.sources.digits import read_digits
from visionops.sources.image_folder import read_image_folder


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    """The 1,797 bundled digits, the project's default source."""
    return read_digits()


def _failed(report: dict) -> list[str]:
    return [
        f"{entry['expectation']}({entry['column']})"
        for suite in report["suites"]
        for entry in suite["expectations"]
        if not entry["success"]
    ]


def test_the_default_digits_pass_every_expectation(validate, suites, digits) -> None:
    outcome, message = validate(digits)

    assert outcome.report["success"] is True, message
    assert _failed(outcome.report) == []
    assert outcome.report["evaluated"] == sum(len(suite["expectations"]) for suite in suites)
    assert outcome.report["quarantined"] == []


def test_the_digits_raise_no_duplicate_or_near_duplicate_alarm(validate, digits) -> None:
    """Scans of the same digit look alike; none is a copy of another."""
    outcome, _ = validate(digits)
    profile = outcome.image_profile
    rows = np.arange(len(digits))

    assert (profile["duplicate_group"].to_numpy() == rows).all()
    assert (profile["near_duplicate_group"].to_numpy() == rows).all()
    assert (profile["labels_per_content"] == 1).all()


def test_a_clean_image_folder_passes(validate, image_folder, clean) -> None:
    root, _ = image_folder

    dataset = read_image_folder(root)
    outcome, message = validate(dataset)

    assert outcome.report["success"] is True, message
    assert _failed(outcome.report) == []
    assert len(dataset) == len(clean)
    assert dataset.read_errors is None
    assert (outcome.image_profile["near_duplicate_group"].to_numpy() == np.arange(len(clean))).all()


def test_the_digits_do_not_drift_from_their_own_profile(validate, digits) -> None:
    first, _ = validate(digits)
    reference = {
        "origin": "file:conf/base/reference/data_profile.json",
        "profile": first.data_profile,
    }

    outcome, message = validate(digits, reference=reference)

    drift = outcome.report["drift"]
    assert outcome.report["success"] is True, message
    assert drift["reference"] == "file:conf/base/reference/data_profile.json"
    assert [check["check"] for check in drift["checks"]] == [
        "class_distribution",
        "intensity[channel 0]",
    ]
    assert all(check["status"] == "ok" for check in drift["checks"])
    assert all(check["distance"] == 0 for check in drift["checks"])
