"""`visionops monitor`, `feedback import|export|purge` on a real log: figures, alerts, report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from offline_pages import outside_references
from visionops.console import main
from visionops.monitoring.events import read_events, verify_events
from visionops.monitoring.layout import list_segments
from visionops.sources.image_folder import list_image_files

from .conftest import MODEL

ORDINARY = np.arange(0, 200)
LATER = np.arange(200, 400)


def _invert(images: np.ndarray) -> np.ndarray:
    return 255 - images


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ended:
        main(list(argv))
    captured = capsys.readouterr()
    return int(ended.value.code or 0), captured.out, captured.err


def _monitor(capsys: pytest.CaptureFixture[str], project: Path, *flags: str) -> dict:
    code, out, err = _run(capsys, "monitor", "--project-dir", str(project), "--json", *flags)
    assert code == 0, err
    return json.loads(out)


def _label_csv(path: Path, requests: list, label: Callable[[int, int], str]) -> Path:
    lines = ["request_id,instance,label"]
    lines += [
        f"{request.request_id},{index},{label(number, index)}"
        for number, request in enumerate(requests)
        for index in range(request.size)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ordinary_digits_raise_no_alert(
    project: Path, log_digits: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    log_digits(ORDINARY)
    figures = _monitor(capsys, project, "--since", "1h")
    assert figures["alerts"] == [], figures["alerts"]
    assert figures["images"] == 200 and figures["requests"] == 50
    (intensity, size) = figures["input_drift"]["checks"]
    assert intensity["status"] == "ok" and intensity["distance"] < 0.1
    assert size["share"] == 0.0
    assert figures["class_distribution"]["status"] == "ok"
    assert figures["confidence"]["mean"] == pytest.approx(0.9, abs=1e-6)
    assert figures["accuracy"]["status"] == "not judged"


def test_inverted_digits_are_flagged_as_input_drift_and_written_up(
    project: Path, log_digits: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    log_digits(ORDINARY, _invert, predicted=lambda _: "1", confidence=0.4)
    figures = _monitor(capsys, project, "--since", "1h")
    checks = {alert["check"] for alert in figures["alerts"]}
    assert checks == {
        "input_drift.intensity[channel 0]",
        "class_distribution",
        "confidence",
    }
    report = project / "data" / "08_reporting" / "monitoring"
    assert {p.name for p in report.iterdir()} >= {
        "index.html",
        "distributions.png",
        "confidence.png",
    }
    assert "input_drift.intensity" not in (report / "index.html").read_text()  # words, not keys
    assert "3 alert(s)" in (report / "index.html").read_text()
    assert outside_references(report) == []
    code, text, _ = _run(capsys, "monitor", "--project-dir", str(project), "--since", "1h")
    assert code == 0 and "ALERT input_drift.intensity[channel 0]" in text


def test_labels_make_live_accuracy_and_recall(
    project: Path,
    log_digits: Callable,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    requests = log_digits(ORDINARY[:40], predicted=lambda label: "1")  # wrong but for the 1s
    labels = digits[1]
    csv = _label_csv(tmp_path / "labels.csv", requests, lambda n, i: str(labels[4 * n + i]))
    code, text, err = _run(capsys, "feedback", "import", str(csv), "--project-dir", str(project))
    assert code == 0, err
    assert "10 label set(s) recorded" in text
    figures = _monitor(capsys, project, "--since", "1h")
    expected = float(np.mean(labels[:40] == 1))
    assert figures["accuracy"]["labels"] == 40
    assert figures["accuracy"]["accuracy"] == pytest.approx(expected)
    assert figures["accuracy"]["per_class_recall"]["1"] == 1.0
    assert figures["accuracy"]["per_class_recall"]["0"] == 0.0
    assert "accuracy" in {alert["check"] for alert in figures["alerts"]}
    code, text, _ = _run(capsys, "feedback", "import", str(csv), "--project-dir", str(project))
    assert "0 label set(s) recorded" in text and "10 already recorded" in text


def test_a_bad_window_or_csv_is_one_line_of_error(
    project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _run(capsys, "monitor", "--project-dir", str(project), "--since", "soon")
    assert code == 1 and err.startswith("visionops: error: --since 'soon'")
    (tmp_path / "bad.csv").write_text("request_id,label\nnope,3\n")
    code, _, err = _run(
        capsys, "feedback", "import", str(tmp_path / "bad.csv"), "--project-dir", str(project)
    )
    assert code == 1 and "no prediction of model 'digits' has this request id" in err


def test_export_writes_an_image_folder_with_its_provenance(
    project: Path, log_digits: Callable, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    requests = log_digits(LATER[:8], _invert)
    csv = _label_csv(tmp_path / "labels.csv", requests, lambda n, i: str((n * 4 + i) % 3))
    _run(capsys, "feedback", "import", str(csv), "--project-dir", str(project))
    target = project / "data" / "01_raw" / "feedback"
    code, text, err = _run(
        capsys, "feedback", "export", "--to", str(target), "--project-dir", str(project)
    )
    assert code == 0, err
    assert "exported 8 labelled image(s)" in text
    files = list_image_files(target)
    assert {name: len(paths) for name, paths in files.items()} == {"0": 3, "1": 3, "2": 2}
    manifest = json.loads((target / "feedback.json").read_text())
    assert [s["name"] for s in manifest["segments"]] == [
        p.name for p in list_segments(project / "data" / "09_production", MODEL)
    ]
    assert manifest["senders"] and all(item["sender"] for item in manifest["items"])
    (event,) = read_events(project / "data" / "09_production")
    assert event["event"] == "feedback_exported" and event["details"]["images"] == 8


def test_purge_removes_old_predictions_and_labels_and_records_it(
    project: Path, log_digits: Callable, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    production = project / "data" / "09_production"
    requests = log_digits(ORDINARY[:8])
    csv = _label_csv(tmp_path / "labels.csv", requests, lambda n, i: "0")
    _run(capsys, "feedback", "import", str(csv), "--project-dir", str(project))
    code, text, _ = _run(capsys, "feedback", "purge", "--project-dir", str(project))
    assert code == 0 and "purged 0 segment(s)" in text  # all within retention.days
    names = [path.name for path in list_segments(production, MODEL)]
    code, text, _ = _run(
        capsys, "feedback", "purge", "--older-than", "0s", "--project-dir", str(project)
    )
    assert "purged 1 segment(s) (8 rows) and 2 label set(s)" in text
    assert list_segments(production, MODEL) == []
    assert (production / "feedback" / MODEL / "labels.jsonl").read_text() == ""
    (event,) = read_events(production)
    assert event["event"] == "purged"
    assert [segment["name"] for segment in event["details"]["segments"]] == names
    assert verify_events(production) == []
    figures = _monitor(capsys, project, "--since", "1h")
    assert figures["images"] == 0 and figures["accuracy"]["labels"] == 0


def test_an_edited_event_breaks_the_chain(project: Path) -> None:
    from visionops.monitoring.events import record_event

    production = project / "data" / "09_production"
    record_event(production, "purged", {"rows": 1})
    record_event(production, "purged", {"rows": 2})
    path = production / "events.jsonl"
    path.write_text(path.read_text().replace('"rows": 1', '"rows": 0'))
    assert len(verify_events(production)) == 1
