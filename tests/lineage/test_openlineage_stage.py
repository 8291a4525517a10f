"""Real stage runs send their OpenLineage events: every stage of `dvc repro` on the
default data (the end-to-end tests' shared project), then a failing run and a
misconfigured one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from e2e.conftest import reproduced_copy, run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EVENTS = "data/08_reporting/openlineage"


def _events(project: Path, since: set[str] = frozenset()) -> list[dict]:
    """The events in the project's event folder, in file-name order, but those in ``since``."""
    files = sorted(p for p in (project / EVENTS).glob("*.json") if p.name not in since)
    return [json.loads(p.read_text()) for p in files]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy on which `dvc repro` has run once, on the digits."""
    return reproduced_copy(tmp_path_factory, "openlineage")


@pytest.mark.parametrize(
    "stage",
    ["ingestion", "data_validation", "data_processing", "training", "evaluation", "deployment"],
)
def test_a_stage_run_sends_start_then_complete_with_the_hashes_in_dvc_lock(
    ingested: Path, stage: str
) -> None:
    events = [e for e in _events(ingested) if e["job"]["name"] == stage]
    start, complete = events
    assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert complete["job"] == {**complete["job"], "namespace": "visionops", "name": stage}

    declared = yaml.safe_load((ingested / "dvc.yaml").read_text())["stages"][stage]
    params = yaml.safe_load((ingested / "params.yaml").read_text())
    path = params["ingestion"]["path"]
    deps = [d.replace("${ingestion.path}", path) for d in declared["deps"]]
    assert [d["name"] for d in start["inputs"]] == deps
    outs = declared.get("outs", []) + declared.get("metrics", [])
    outs = [next(iter(out)) if isinstance(out, dict) else out for out in outs]  # path: options
    assert [d["name"] for d in complete["outputs"]] == outs

    lock = yaml.safe_load((ingested / "dvc.lock").read_text())["stages"][stage]
    recorded = {e["path"]: e for e in lock["deps"] + lock["outs"]}
    for dataset in start["inputs"] + complete["outputs"]:
        facet, entry = dataset["facets"]["dvc"], recorded[dataset["name"]]
        assert (facet["md5"], facet["size"], facet.get("nfiles")) == (
            entry["md5"],
            entry["size"],
            entry.get("nfiles"),
        ), dataset["name"]
        assert dataset["facets"]["version"]["datasetVersion"] == entry["md5"]
    assert all("facets" not in d or d["facets"] == {} for d in start["outputs"])


def test_the_events_leave_dvc_and_git_clean(ingested: Path) -> None:
    """The event folder is no DVC output and git-ignored: the stage stays up to date."""
    assert "up to date" in run(ingested, "dvc", "status", "ingestion").stdout
    assert run(ingested, "git", "status", "--porcelain", "--", "data").stdout == ""


def test_a_failing_stage_sends_fail_with_the_message(ingested: Path, tmp_path: Path) -> None:
    before = {p.name for p in (ingested / EVENTS).iterdir()}
    missing = tmp_path / "no-such-folder"
    result = run(
        ingested,
        "kedro",
        "run",
        "--pipelines",
        "ingestion",
        "--params",
        f"ingestion.source=image_folder,ingestion.path={missing}",
        check=False,
    )
    assert result.returncode != 0
    start, fail = _events(ingested, since=before)
    assert [start["eventType"], fail["eventType"]] == ["START", "FAIL"]
    assert start["run"]["runId"] == fail["run"]["runId"]
    error = fail["run"]["facets"]["errorMessage"]
    printed = result.stderr.strip().splitlines()[-1].removeprefix("visionops: error: ")
    assert error["message"] == printed
    assert str(missing) in error["message"] and "does not exist" in error["message"]
    assert str(missing) in [d["name"] for d in start["inputs"]]


def test_a_bad_setting_stops_the_run_naming_key_and_file(ingested: Path) -> None:
    local = ingested / "conf/local/openlineage.yml"
    local.write_text("transport:\n  type: kafka\n")
    try:
        result = run(ingested, "kedro", "run", "--pipelines", "ingestion", check=False)
    finally:
        local.unlink()
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == (
        f"visionops: error: transport.type in {local} must be one of file, http; got 'kafka'"
    )
