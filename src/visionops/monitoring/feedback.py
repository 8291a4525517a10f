"""Feedback labels: the true class of each image of a logged request, and who said so.

A label set names one request by the id its predict call returned (``X-Request-Id``)
and gives one class name per image of that request. A batch is checked whole before
anything is written: an unknown request id (404), a class the answering version does
not know, or a wrong number of labels (400), or labels that contradict the ones
recorded for that request already (409) refuse the batch with every problem named. The
same labels sent again are a recorded no-op (``duplicate``). Accepted labels are
appended to ``feedback/<model>/labels.jsonl`` under an exclusive lock and fsynced;
each line keeps the sender, the time, the version that answered and what it predicted.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from visionops.errors import VisionOpsError
from visionops.files import locked
from visionops.monitoring.layout import LABELS_LOCK, labels_path, list_segments
from visionops.monitoring.recorder import Logged
from visionops.monitoring.records import read_segments

RECORDED, DUPLICATE = "recorded", "duplicate"
MAX_ITEMS = 10_000


class FeedbackError(VisionOpsError):
    """Feedback that cannot be recorded; ``status_code`` is the HTTP status to answer."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


Lookup = Callable[[str], Logged | None]
ClassNames = Callable[[int], Sequence[str] | None]


def parse_feedback_body(document: Any) -> list[dict[str, Any]]:
    """The label sets of a ``:feedback`` body: one ``{"request_id", "labels"}`` object,
    or a list of them under ``"feedback"``.

    Raises:
        FeedbackError: The body has another shape (400).
    """
    if not isinstance(document, dict):
        raise FeedbackError(
            'the feedback body must be a JSON object: {"request_id": ID, "labels": [...]} '
            'or {"feedback": [...]}'
        )
    if "feedback" in document:
        if set(document) != {"feedback"} or not isinstance(document["feedback"], list):
            raise FeedbackError("'feedback' must be the body's only key, and hold a list")
        items = document["feedback"]
    else:
        items = [document]
    if not items:
        raise FeedbackError("'feedback' is empty; send at least one label set")
    if len(items) > MAX_ITEMS:
        raise FeedbackError(f"{len(items)} label sets in one body; send at most {MAX_ITEMS}")
    for index, item in enumerate(items):
        where = f"label set {index}"
        if not isinstance(item, dict) or set(item) != {"request_id", "labels"}:
            raise FeedbackError(f"{where} must be an object with exactly 'request_id' and 'labels'")
        if not isinstance(item["request_id"], str) or not item["request_id"]:
            raise FeedbackError(f"{where}: 'request_id' must be a non-empty string")
        labels = item["labels"]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise FeedbackError(f"{where}: 'labels' must be a list of class names (strings)")
    return items


def read_labels_file(path: Path) -> list[dict[str, Any]]:
    """The label lines of a labels file; a torn last line (a killed writer) is skipped."""
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def scan_log(folder: Path, model: str, segments: list[Path] | None = None) -> dict[str, Logged]:
    """Every logged request of ``model`` in its closed segments (or in ``segments``),
    by request id."""
    paths = list_segments(folder, model) if segments is None else segments
    table = read_segments(paths, ("request_id", "instance", "version", "predicted", "time"))
    found: dict[str, dict[int, str]] = {}
    meta: dict[str, tuple[int, float]] = {}
    columns = table.to_pydict()
    for request_id, instance, version, predicted, moment in zip(
        columns["request_id"],
        columns["instance"],
        columns["version"],
        columns["predicted"],
        columns["time"],
        strict=True,
    ):
        found.setdefault(request_id, {})[instance] = predicted
        meta[request_id] = (version, moment)
    return {
        request_id: Logged(
            model, meta[request_id][0], tuple(p for _, p in sorted(by.items())), meta[request_id][1]
        )
        for request_id, by in found.items()
    }


class FeedbackStore:
    """The feedback labels of one model under the production folder ``folder``."""

    def __init__(self, folder: Path, model: str) -> None:
        self.path = labels_path(folder, model)
        self.model = model
        self._known: dict[str, dict[str, Any]] = {}
        self._offset = 0

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with locked(self.path.parent / LABELS_LOCK):
            self._catch_up()
            yield

    def _catch_up(self) -> None:
        """Reads the lines other writers appended since the last look."""
        if not self.path.is_file():
            self._known, self._offset = {}, 0
            return
        size = self.path.stat().st_size
        if size < self._offset:  # rewritten by a purge: read it again
            self._known, self._offset = {}, 0
        with self.path.open("rb") as stream:
            stream.seek(self._offset)
            data = stream.read()
        complete = data[: data.rfind(b"\n") + 1]
        for line in complete.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            self._known.setdefault(entry["request_id"], entry)
        self._offset += len(complete)

    def labelled(self) -> dict[str, dict[str, Any]]:
        """Every label set recorded, by request id (the first one recorded for each)."""
        with self._locked():
            return dict(self._known)

    def submit(
        self,
        items: list[dict[str, Any]],
        sender: str,
        source: str,
        lookup: Lookup,
        class_names: ClassNames,
    ) -> list[dict[str, Any]]:
        """Checks every label set, then records the new ones; see the module doc.

        Args:
            items: ``{"request_id", "labels"}`` objects.
            sender: Who sent them (the token's sender, or the importing user).
            source: Where they came from (``api``, ``csv:<file>``).
            lookup: What the log holds of a request id.
            class_names: The classes of a version of this model (None: unknown).

        Returns:
            One ``{"request_id", "status"}`` per label set: ``recorded`` or ``duplicate``.

        Raises:
            FeedbackError: A label set is refused; nothing was recorded.
        """
        with self._locked():
            problems: list[tuple[int, str]] = []
            results, lines, seen = [], [], {}
            now = time.time()
            for index, item in enumerate(items):
                request_id, labels = item["request_id"], list(item["labels"])
                where = f"label set {index} (request {request_id})"
                logged = lookup(request_id)
                if logged is None or logged.model != self.model:
                    problems.append(
                        (
                            404,
                            f"{where}: no prediction of model {self.model!r} has this request "
                            "id in the log (it was not sampled, is too old, or is another model's)",
                        )
                    )
                    continue
                if len(labels) != len(logged.predicted):
                    problems.append(
                        (
                            400,
                            f"{where}: {len(labels)} label(s) for a request of "
                            f"{len(logged.predicted)} image(s); send one class name per image",
                        )
                    )
                    continue
                names = class_names(logged.version)
                if names is None:
                    problems.append(
                        (
                            409,
                            f"{where}: version {logged.version} records no class names "
                            "(assets.extra/lineage.json), so its labels cannot be checked",
                        )
                    )
                    continue
                unknown = sorted(set(labels) - set(names))
                if unknown:
                    problems.append(
                        (
                            400,
                            f"{where}: unknown class(es) {unknown}; version {logged.version} "
                            f"knows {list(names)}",
                        )
                    )
                    continue
                earlier = self._known.get(request_id) or seen.get(request_id)
                if earlier is not None:
                    if earlier["labels"] == labels:
                        results.append({"request_id": request_id, "status": DUPLICATE})
                    else:
                        problems.append(
                            (
                                409,
                                f"{where}: labelled {earlier['labels']} already by "
                                f"{earlier['sender']}; labels are not changed once recorded",
                            )
                        )
                    continue
                entry = {
                    "request_id": request_id,
                    "model": self.model,
                    "version": logged.version,
                    "labels": labels,
                    "predicted": list(logged.predicted),
                    "predicted_at": logged.time,
                    "sender": sender,
                    "source": source,
                    "time": now,
                }
                seen[request_id] = entry
                lines.append(entry)
                results.append({"request_id": request_id, "status": RECORDED})
            if problems:
                status = problems[0][0]  # the first problem's, as a client reads them
                listed = "; ".join(text for _, text in problems[:20])
                more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
                raise FeedbackError(
                    f"nothing recorded: {len(problems)} of {len(items)} label set(s) refused: "
                    f"{listed}{more}",
                    status,
                )
            if lines:
                self._append(lines)
            return results

    def _append(self, entries: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in entries).encode()
        handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(handle, data)
            os.fsync(handle)
        finally:
            os.close(handle)
        for entry in entries:
            self._known[entry["request_id"]] = entry
        self._offset += len(data)


def read_feedback_csv(path: Path) -> list[dict[str, Any]]:
    """The label sets of a CSV file with columns ``request_id``, ``label`` and, for
    requests of several images, ``instance`` (0-based): one row per image.

    Raises:
        FeedbackError: The file is missing, lacks a column, or a request's rows do not
            give each of its images one label.
    """
    if not Path(path).is_file():
        raise FeedbackError(f"feedback file {path} does not exist")
    with Path(path).open(newline="") as stream:
        reader = csv.DictReader(stream)
        missing = {"request_id", "label"} - set(reader.fieldnames or ())
        if missing:
            raise FeedbackError(
                f"{path} has no column(s) {sorted(missing)}; its header must name request_id, "
                "label and, for requests of several images, instance"
            )
        grouped: dict[str, dict[int, str]] = {}
        for line, row in enumerate(reader, start=2):
            request_id, label = (row.get("request_id") or "").strip(), (row.get("label") or "")
            instance_text = (row.get("instance") or "0").strip() or "0"
            if not request_id or not label.strip() or not instance_text.isdigit():
                raise FeedbackError(
                    f"{path} line {line}: request_id, label and instance (a whole number) "
                    "must be filled in"
                )
            labels = grouped.setdefault(request_id, {})
            if int(instance_text) in labels:
                raise FeedbackError(
                    f"{path} line {line}: request {request_id} instance {instance_text} twice"
                )
            labels[int(instance_text)] = label.strip()
    items = []
    for request_id, labels in grouped.items():
        if sorted(labels) != list(range(len(labels))):
            raise FeedbackError(
                f"{path}: request {request_id} has labels for instances {sorted(labels)}; "
                "give every image of the request one row, instances from 0"
            )
        items.append({"request_id": request_id, "labels": [labels[i] for i in range(len(labels))]})
    if not items:
        raise FeedbackError(f"{path} holds no label")
    return items
