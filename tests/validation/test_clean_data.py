"""Clean data passes the gate: no failed expectation, no false duplicate, no drift."""

from __future__ import annotations

import numpy as np


def _failed(report: dict) -> list[str]:
    return [
        f"{entry['expectation']}({entry['column']})"
        for suite in report["suites"]
        for entry in suite["expectations"]
        if not entry["success"]
    ]


def test_the_default_digits_pass_every_expectation(validate, suites, digits_version) -> None:
    outcome, message = validate(digits_version)

    assert outcome.report["success"] is True, message
    assert _failed(outcome.report) == []
    assert outcome.report["evaluated"] == sum(len(suite["expectations"]) for suite in suites)
    assert outcome.report["quarantined"] == []
    assert outcome.report["images"] == 1797


def test_the_digits_raise_no_duplicate_alarm(validate, digits_version) -> None:
    """Scans of the same digit look alike; none is a copy of another. Of the 1,797, only
    a few scans of a '1' (rows 1436, 1485 and 1505, thumbnails correlating over 0.99)
    are as close as near-copies: far below the near-duplicate share the suite allows."""
    outcome, _ = validate(digits_version)
    profile = outcome.image_profile
    rows = np.arange(len(profile))

    assert (profile["duplicate_group"].to_numpy() == rows).all()
    groups = profile["near_duplicate_group"].to_numpy()
    grouped = np.flatnonzero(groups != rows)
    assert len(grouped) <= 2
    labels = profile["label"].to_numpy()
    assert (labels[grouped] == labels[groups[grouped]]).all(), "near-copies of one digit"
    assert (profile["labels_per_content"] == 1).all()


def test_a_clean_image_folder_passes(validate, ingest, image_folder, clean) -> None:
    root, _ = image_folder

    dataset = ingest("image_folder", root)
    outcome, message = validate(dataset)

    assert outcome.report["success"] is True, message
    assert _failed(outcome.report) == []
    assert len(dataset) == len(clean)
    assert dataset.index["readable"].all()
    assert (outcome.image_profile["near_duplicate_group"].to_numpy() == np.arange(len(clean))).all()


def test_the_digits_do_not_drift_from_their_own_profile(validate, digits_version) -> None:
    first, _ = validate(digits_version)
    reference = {
        "origin": "file:conf/base/reference/data_profile.json",
        "profile": first.data_profile,
    }

    outcome, message = validate(digits_version, reference=reference)

    drift = outcome.report["drift"]
    assert outcome.report["success"] is True, message
    assert drift["reference"] == "file:conf/base/reference/data_profile.json"
    assert [check["check"] for check in drift["checks"]] == [
        "class_distribution",
        "intensity[channel 0]",
    ]
    assert all(check["status"] == "ok" for check in drift["checks"])
    assert all(check["distance"] == 0 for check in drift["checks"])
