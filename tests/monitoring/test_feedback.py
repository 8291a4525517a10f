"""Feedback labels: checked whole, recorded once with their sender, read back after a crash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from visionops.monitoring.feedback import (
    DUPLICATE,
    RECORDED,
    FeedbackError,
    FeedbackStore,
    parse_feedback_body,
    read_feedback_csv,
    scan_log,
)
from visionops.monitoring.recorder import Logged

from .conftest import CLASSES, MODEL


def _lookup(requests: dict[str, int]) -> Callable[[str], Logged | None]:
    def find(request_id: str) -> Logged | None:
        size = requests.get(request_id)
        return None if size is None else Logged(MODEL, 1, ("1",) * size, 0.0)

    return find


def _submit(store: FeedbackStore, items: list[dict], sender: str = "alice") -> list[dict]:
    return store.submit(items, sender, "api", _lookup({"a": 1, "b": 2}), lambda _: CLASSES)


def test_labels_are_recorded_with_sender_and_what_was_predicted(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path, MODEL)
    results = _submit(store, [{"request_id": "b", "labels": ["3", "1"]}])
    assert results == [{"request_id": "b", "status": RECORDED}]
    entry = FeedbackStore(tmp_path, MODEL).labelled()["b"]  # read back from the file
    assert entry["labels"] == ["3", "1"] and entry["predicted"] == ["1", "1"]
    assert entry["sender"] == "alice" and entry["version"] == 1


@pytest.mark.parametrize(
    ("item", "status", "message"),
    [
        ({"request_id": "zzz", "labels": ["1"]}, 404, "no prediction of model 'digits'"),
        ({"request_id": "b", "labels": ["1"]}, 400, "1 label(s) for a request of 2 image(s)"),
        ({"request_id": "a", "labels": ["cat"]}, 400, "unknown class(es) ['cat']"),
    ],
)
def test_a_bad_label_set_refuses_the_whole_batch(
    tmp_path: Path, item: dict, status: int, message: str
) -> None:
    store = FeedbackStore(tmp_path, MODEL)
    good = {"request_id": "a", "labels": ["4"]} if item["request_id"] != "a" else None
    batch = [good, item] if good else [item]
    with pytest.raises(FeedbackError) as caught:
        _submit(store, batch)
    assert caught.value.status_code == status and message in caught.value.message
    assert FeedbackStore(tmp_path, MODEL).labelled() == {}  # nothing recorded, not even 'a'


def test_the_same_labels_again_are_a_no_op_and_other_labels_a_conflict(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path, MODEL)
    _submit(store, [{"request_id": "a", "labels": ["4"]}])
    again = FeedbackStore(tmp_path, MODEL)  # another process, say
    assert _submit(again, [{"request_id": "a", "labels": ["4"]}], "bob") == [
        {"request_id": "a", "status": DUPLICATE}
    ]
    with pytest.raises(FeedbackError, match=r"labelled \['4'\] already by alice") as caught:
        _submit(again, [{"request_id": "a", "labels": ["5"]}], "bob")
    assert caught.value.status_code == 409
    assert len(store.path.read_text().splitlines()) == 1


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path, MODEL)
    _submit(store, [{"request_id": "a", "labels": ["4"]}])
    with store.path.open("a") as stream:
        stream.write('{"request_id": "b", "lab')  # a writer killed mid-line
    assert list(FeedbackStore(tmp_path, MODEL).labelled()) == ["a"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "must be a JSON object"),
        ({"feedback": []}, "'feedback' is empty"),
        ({"request_id": "a"}, "exactly 'request_id' and 'labels'"),
        ({"request_id": "a", "labels": "4"}, "must be a list of class names"),
        ({"feedback": [{"request_id": "a", "labels": ["1"]}], "x": 1}, "only key"),
    ],
)
def test_malformed_bodies_are_named(body: object, message: str) -> None:
    with pytest.raises(FeedbackError, match=message):
        parse_feedback_body(body)


def test_a_list_under_feedback_is_read_as_several_label_sets() -> None:
    body = {"feedback": [{"request_id": "a", "labels": ["1"]}, {"request_id": "b", "labels": []}]}
    assert [item["request_id"] for item in parse_feedback_body(body)] == ["a", "b"]


def test_csv_rows_are_grouped_by_request_in_instance_order(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("request_id,instance,label\nb,1,7\na,0,3\nb,0,2\n")
    assert read_feedback_csv(path) == [
        {"request_id": "b", "labels": ["2", "7"]},
        {"request_id": "a", "labels": ["3"]},
    ]
    path.write_text("request_id,instance,label\nb,1,7\n")
    with pytest.raises(FeedbackError, match="request b has labels for instances \\[1\\]"):
        read_feedback_csv(path)
    path.write_text("id,label\nb,7\n")
    with pytest.raises(FeedbackError, match="no column\\(s\\) \\['request_id'\\]"):
        read_feedback_csv(path)


def test_the_log_on_disk_answers_for_requests_the_server_no_longer_holds(
    production: Path, log_digits: Callable, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    requests = log_digits(np.arange(8))
    found = scan_log(production, MODEL)
    assert set(found) == {request.request_id for request in requests}
    first = found[requests[0].request_id]
    assert first.predicted == tuple(str(label) for label in digits[1][:4])
