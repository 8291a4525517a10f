"""OpenLineage events of a stage run, on a small DVC project: settings, DVC hashes, the
file transport, a real HTTP server on 127.0.0.1, and transport failures as warnings."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from visionops.errors import ConfigError
from visionops.lineage.dvc_store import dvc_md5, file_md5
from visionops.lineage.openlineage import StageRun, dvc_hash, stage_paths, start_stage_run
from visionops.lineage.openlineage_settings import (
    DEFAULTS,
    OpenLineageSettings,
    load_openlineage_settings,
)

ROOT = Path(__file__).parents[2]
DVC_YAML = {
    "vars": ["params.yaml"],
    "stages": {
        "prepare": {
            "cmd": "kedro run --pipelines prepare",
            "deps": ["code.py", "${prepare.path}"],
            "outs": ["data/interim", {"data/prepared": {"persist": True}}],
            "metrics": ["data/metrics.json"],
        },
        "train": {
            "cmd": "kedro run --pipelines train",
            "deps": ["data/prepared", "code.py"],
            "outs": ["model.bin"],
        },
    },
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with one stage, ``prepare``: code.py and data/raw in, two folders and
    a metrics file out; params.yaml and a .dvcignore as the real project has them."""
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    params = {"model_name": "m", "registry_root": "registry", "prepare": {"path": "data/raw"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / ".dvcignore").write_text("__pycache__/\n")
    (tmp_path / "code.py").write_text("print('prepare')\n")
    raw = tmp_path / "data/raw"
    (raw / "cats").mkdir(parents=True)
    (raw / "cats/a.png").write_bytes(b"\x89PNG one")
    (raw / "b.txt").write_text("two")
    (raw / "__pycache__").mkdir()
    (raw / "__pycache__/x.pyc").write_bytes(b"ignored by DVC")
    (tmp_path / "conf/base").mkdir(parents=True)
    (tmp_path / "conf/local").mkdir(parents=True)
    return tmp_path


def _settings(project: Path, **changes: object) -> OpenLineageSettings:
    return dataclasses.replace(load_openlineage_settings(project), **changes)


def _write_outputs(project: Path) -> None:
    for folder in ("data/interim", "data/prepared"):
        (project / folder).mkdir(parents=True, exist_ok=True)
        (project / folder / "part-0").write_text(folder)
    (project / "data/metrics.json").write_text('{"accuracy": 1.0}')


def _events(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def test_the_shipped_settings_file_holds_the_defaults() -> None:
    """conf/base/openlineage.yml documents every setting, with the code's defaults."""
    assert yaml.safe_load((ROOT / "conf/base/openlineage.yml").read_text()) == DEFAULTS


def test_an_unknown_setting_names_the_key_and_the_file(project: Path) -> None:
    path = project / "conf/base/openlineage.yml"
    path.write_text("transport:\n  htp: {url: http://marquez:5000}\n")
    with pytest.raises(ConfigError, match=f"{path} has unknown setting.s. transport.htp"):
        load_openlineage_settings(project)


def test_a_bad_value_names_the_file_that_set_it(project: Path) -> None:
    local = project / "conf/local/openlineage.yml"
    local.write_text("transport:\n  http:\n    url: marquez:5000\n")
    with pytest.raises(ConfigError) as raised:
        load_openlineage_settings(project)
    assert str(raised.value) == (
        f"transport.http.url in {local} must be an http(s) URL such as "
        "http://localhost:5000; got 'marquez:5000'"
    )


def test_the_api_key_comes_from_the_environment_variable_named(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "conf/base/openlineage.yml").write_text(
        "transport:\n  http: {api_key_env: MARQUEZ_KEY}\n"
    )
    monkeypatch.delenv("MARQUEZ_KEY", raising=False)
    assert load_openlineage_settings(project).http.api_key is None
    monkeypatch.setenv("MARQUEZ_KEY", "s3cret")
    assert load_openlineage_settings(project).http.api_key == "s3cret"


def test_dvc_hashes_are_dvc_store_s_with_dvcignore_applied(project: Path) -> None:
    raw = project / "data/raw"
    hashed = dvc_hash(raw, project)
    (raw / "__pycache__/x.pyc").unlink()
    (raw / "__pycache__").rmdir()
    assert (hashed.md5, hashed.size, hashed.nfiles) == (dvc_md5(raw), 11, 2)
    code = dvc_hash(project / "code.py", project)
    assert (code.md5, code.size, code.nfiles) == (file_md5(project / "code.py"), 17, None)


def test_stage_paths_are_dvc_yaml_s_with_the_run_s_parameters(project: Path) -> None:
    inputs, outputs = stage_paths(project, ["prepare"], {"prepare": {"path": "/srv/raw"}})
    assert inputs == ["code.py", "/srv/raw"]
    assert outputs == ["data/interim", "data/prepared", "data/metrics.json"]
    # Every stage: what one stage writes and the next reads is an output only.
    every_stage = stage_paths(project, ["__default__"], {"prepare": {"path": "data/raw"}})
    assert every_stage == (["code.py", "data/raw"], [*outputs, "model.bin"])
    assert stage_paths(project, ["not_a_stage"], {}) == ([], [])


def test_start_and_complete_share_a_run_id_and_hash_outputs_once_written(project: Path) -> None:
    run = start_stage_run(project, ["prepare"])
    _write_outputs(project)
    run.complete()
    folder = project / "data/08_reporting/openlineage"
    names = sorted(path.name for path in folder.iterdir())
    assert [name.split("-", 2)[2] for name in names] == [
        "prepare-START.json",
        "prepare-COMPLETE.json",
    ]
    start, complete = _events(folder)
    assert start["run"]["runId"] == complete["run"]["runId"] == run.run_id
    assert start["job"]["namespace"] == "visionops" and start["job"]["name"] == "prepare"
    assert start["run"]["facets"]["processing_engine"]["name"] == "Kedro"
    inputs = {d["name"]: d["facets"]["dvc"]["md5"] for d in start["inputs"]}
    assert inputs == {
        "code.py": file_md5(project / "code.py"),
        "data/raw": dvc_hash(project / "data/raw", project).md5,
    }
    assert [d.get("facets", {}) for d in start["outputs"]] == [{}, {}, {}]
    written = {d["name"]: d["facets"]["version"]["datasetVersion"] for d in complete["outputs"]}
    assert written == {
        "data/interim": dvc_md5(project / "data/interim"),
        "data/prepared": dvc_md5(project / "data/prepared"),
        "data/metrics.json": file_md5(project / "data/metrics.json"),
    }


def test_fail_holds_the_message_and_names_the_outputs_unhashed(project: Path) -> None:
    folder = project / "events"
    run = StageRun(
        project, ["prepare"], {"prepare": {"path": "data/raw"}}, _settings(project, folder=folder)
    )
    run.start()
    _write_outputs(project)
    try:
        raise ValueError("data/raw/cats/a.png: cannot decode image")
    except ValueError as error:
        run.fail(str(error), error)
    fail = _events(folder)[-1]
    assert fail["eventType"] == "FAIL" and fail["run"]["runId"] == run.run_id
    facet = fail["run"]["facets"]["errorMessage"]
    assert facet["message"] == "data/raw/cats/a.png: cannot decode image"
    assert "Traceback" in facet["stackTrace"] and facet["programmingLanguage"] == "python"
    assert [d["name"] for d in fail["outputs"]] == [
        "data/interim",
        "data/prepared",
        "data/metrics.json",
    ]
    assert all(not d.get("facets") for d in fail["outputs"])


def test_disabled_sends_nothing(project: Path) -> None:
    (project / "conf/local/openlineage.yml").write_text("enabled: false\n")
    assert start_stage_run(project, ["prepare"]) is None
    assert not (project / "data/08_reporting/openlineage").exists()


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, dict, dict]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, dict(self.headers), body))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def lineage_server() -> Iterator[tuple[str, list]]:
    """An OpenLineage endpoint on 127.0.0.1 that keeps what it receives."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Collector,), {"received": []}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", server.RequestHandlerClass.received
    finally:
        server.shutdown()
        server.server_close()


def test_http_sends_each_event_to_the_server_with_the_api_key(
    project: Path, lineage_server: tuple[str, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = lineage_server
    (project / "conf/local/openlineage.yml").write_text(
        f"transport:\n  type: http\n  http: {{url: '{url}', api_key_env: MARQUEZ_KEY}}\n"
    )
    monkeypatch.setenv("MARQUEZ_KEY", "s3cret")
    run = start_stage_run(project, ["prepare"])
    _write_outputs(project)
    run.complete()
    assert [path for path, _, _ in received] == ["/api/v1/lineage", "/api/v1/lineage"]
    assert {headers["Authorization"] for _, headers, _ in received} == {"Bearer s3cret"}
    start, complete = (body for _, _, body in received)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert complete["outputs"][2]["facets"]["dvc"]["md5"] == file_md5(project / "data/metrics.json")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_server_is_a_warning_not_a_failure(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    http = dataclasses.replace(load_openlineage_settings(project).http, url=url, retries=0)
    settings = _settings(project, transport="http", http=http)
    run = StageRun(project, ["prepare"], {"prepare": {"path": "data/raw"}}, settings)
    with caplog.at_level(logging.WARNING):
        run.start()
        run.complete()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert f"the START event of prepare was not sent to {url}/api/v1/lineage" in warnings[0]


def test_a_folder_that_cannot_be_written_is_a_warning_not_a_failure(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = project / "events"
    blocked.write_text("a file where the folder should be")
    settings = _settings(project, folder=blocked)
    with caplog.at_level(logging.WARNING):
        StageRun(project, ["prepare"], {"prepare": {"path": "data/raw"}}, settings).start()
    assert f"OpenLineage: cannot send events to {blocked}" in caplog.text
