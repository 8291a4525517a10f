"""The audit log: appended in order, chained by hashes, and tamper-evident."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import socket
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from visionops.errors import RegistryError
from visionops.registry.events import (
    FIELDS,
    GENESIS,
    append_event,
    default_actor,
    read_events,
    verify_chain,
)
from visionops.registry.layout import events_path

MODEL = "digits"


def append_three(root: Path) -> list[dict]:
    """Logs a registration, a promotion and a rollback of ``digits``."""
    return [
        append_event(root, MODEL, "registered", version=1, labels={"production": 1}),
        append_event(
            root,
            MODEL,
            "promoted",
            version=2,
            labels={"production": 2},
            reason="better on March data",
            details={"label": "production", "from": 1, "to": 2},
            actor="alice@laptop",
        ),
        append_event(root, MODEL, "rolled_back", version=1, labels={"production": 1}),
    ]


def log_lines(root: Path) -> list[bytes]:
    return events_path(root, MODEL).read_bytes().splitlines()


def write_lines(root: Path, lines: list[bytes]) -> None:
    events_path(root, MODEL).write_bytes(b"".join(line + b"\n" for line in lines))


def test_events_are_numbered_and_chained(tmp_path: Path) -> None:
    """Each line links to the exact bytes of the one before; the first to 64 zeros."""
    written = append_three(tmp_path)
    lines = log_lines(tmp_path)
    assert [event["seq"] for event in written] == [1, 2, 3]
    assert written[0]["prev"] == GENESIS
    assert written[1]["prev"] == hashlib.sha256(lines[0]).hexdigest()
    assert written[2]["prev"] == hashlib.sha256(lines[1]).hexdigest()
    assert read_events(tmp_path, MODEL) == written
    assert set(written[1]) == set(FIELDS)
    assert written[1]["actor"] == "alice@laptop"
    assert written[1]["details"] == {"label": "production", "from": 1, "to": 2}
    assert verify_chain(tmp_path, MODEL) == []


def test_missing_log_is_empty_and_intact(tmp_path: Path) -> None:
    assert read_events(tmp_path, MODEL) == []
    assert verify_chain(tmp_path, MODEL) == []


def test_actor_comes_from_the_environment_with_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """$VISIONOPS_ACTOR names who acted; the host name is always added."""
    monkeypatch.setenv("VISIONOPS_ACTOR", "release-bot")
    assert default_actor() == f"release-bot@{socket.gethostname()}"
    monkeypatch.delenv("VISIONOPS_ACTOR")
    assert default_actor().endswith(f"@{socket.gethostname()}")


def test_an_edited_field_is_reported_on_its_line(tmp_path: Path) -> None:
    """Changing a reason in place shows as an edited event there, and a broken link after."""
    append_three(tmp_path)
    lines = log_lines(tmp_path)
    event = json.loads(lines[1])
    event["reason"] = "nobody will notice"
    lines[1] = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
    write_lines(tmp_path, lines)
    problems = verify_chain(tmp_path, MODEL)
    assert len(problems) == 2
    assert problems[0].startswith("line 2: edited event: hash mismatch")
    assert problems[1].startswith("line 3: broken link")


def test_an_edit_with_a_recomputed_hash_still_breaks_the_next_link(tmp_path: Path) -> None:
    """A forger who rehashes the edited event is caught by the line after it."""
    append_three(tmp_path)
    lines = log_lines(tmp_path)
    forged = json.loads(lines[0])
    forged["actor"] = "someone-else@elsewhere"
    unhashed = {key: value for key, value in forged.items() if key != "hash"}
    canonical = json.dumps(unhashed, sort_keys=True, separators=(",", ":")).encode()
    forged["hash"] = hashlib.sha256(canonical).hexdigest()
    lines[0] = json.dumps(forged, sort_keys=True, separators=(",", ":")).encode()
    write_lines(tmp_path, lines)
    problems = verify_chain(tmp_path, MODEL)
    assert len(problems) == 1
    assert problems[0].startswith("line 2: broken link")


def test_a_deleted_line_is_a_broken_link_and_a_seq_gap(tmp_path: Path) -> None:
    append_three(tmp_path)
    lines = log_lines(tmp_path)
    write_lines(tmp_path, [lines[0], lines[2]])
    problems = verify_chain(tmp_path, MODEL)
    assert [problem.split(":")[0] for problem in problems] == ["line 2", "line 2"]
    assert "broken link" in problems[0]
    assert "seq gap: expected seq 2, found 3" in problems[1]


def test_a_deleted_first_line_is_reported(tmp_path: Path) -> None:
    append_three(tmp_path)
    write_lines(tmp_path, log_lines(tmp_path)[1:])
    problems = verify_chain(tmp_path, MODEL)
    assert "line 1: broken link" in problems[0]
    assert "64 zeros" in problems[0]
    assert "line 1: seq gap: expected seq 1, found 2" in problems


def test_an_unparseable_line_is_named_by_verify_and_read(tmp_path: Path) -> None:
    append_three(tmp_path)
    lines = log_lines(tmp_path)
    lines[1] = b"{not json"
    write_lines(tmp_path, lines)
    problems = verify_chain(tmp_path, MODEL)
    assert problems[0].startswith("line 2: unparseable")
    assert problems[1].startswith("line 3: broken link")
    with pytest.raises(RegistryError, match="line 2 of .*events.jsonl is not an event"):
        read_events(tmp_path, MODEL)


def test_a_line_missing_fields_is_reported(tmp_path: Path) -> None:
    append_three(tmp_path)
    lines = log_lines(tmp_path)
    lines[2] = b'{"seq": 3}'
    write_lines(tmp_path, lines)
    assert verify_chain(tmp_path, MODEL) == [
        "line 3: missing fields: time, event, model, version, labels, actor, reason, details, "
        "prev, hash"
    ]


def test_a_torn_last_line_is_skipped_then_replaced(tmp_path: Path) -> None:
    """A writer killed mid-line leaves no event; the next append removes its bytes."""
    written = append_three(tmp_path)
    with events_path(tmp_path, MODEL).open("ab") as stream:
        stream.write(b'{"seq":4,"event":"prom')
    assert read_events(tmp_path, MODEL) == written
    assert verify_chain(tmp_path, MODEL) == [
        "line 4: incomplete (no newline): a writer stopped mid-write; it is not an event, "
        "and the next append removes it"
    ]
    fourth = append_event(tmp_path, MODEL, "promoted", version=2, labels={"production": 2})
    assert fourth["seq"] == 4
    assert verify_chain(tmp_path, MODEL) == []
    assert len(log_lines(tmp_path)) == 4


def test_append_refuses_a_log_whose_last_line_is_not_an_event(tmp_path: Path) -> None:
    append_three(tmp_path)
    with events_path(tmp_path, MODEL).open("ab") as stream:
        stream.write(b"garbage\n")
    before = events_path(tmp_path, MODEL).read_bytes()
    with pytest.raises(RegistryError, match="models events digits --verify"):
        append_event(tmp_path, MODEL, "promoted", version=2)
    assert events_path(tmp_path, MODEL).read_bytes() == before


def append_many(root: str, writer: int, count: int, start: Barrier) -> None:
    """Appends ``count`` events as one writer process (a multiprocessing target)."""
    start.wait()  # all writers begin together, so their appends contend
    for index in range(count):
        append_event(Path(root), MODEL, "label_moved", version=index, details={"writer": writer})


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    """Four processes appending at once leave every event, in one unforked chain."""
    writers, count = 4, 25
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(writers)
    processes = [
        context.Process(target=append_many, args=(str(tmp_path), writer, count, start))
        for writer in range(writers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    events = read_events(tmp_path, MODEL)
    assert [event["seq"] for event in events] == list(range(1, writers * count + 1))
    for writer in range(writers):
        mine = [e["version"] for e in events if e["details"]["writer"] == writer]
        assert mine == list(range(count))
    assert verify_chain(tmp_path, MODEL) == []
