"""`visionops serve --require-signature` on a real server: a changed version is refused,
named in its status, while production keeps answering."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from registering import register_version
from serving.support import Server, uint8_request
from visionops.registry.layout import write_models_config

from .conftest import ACTOR, MODEL, Registered

WEIGHTS = "variables/variables.data-00000-of-00001"


@pytest.mark.server
def test_a_changed_version_is_refused_and_production_keeps_serving(
    registered: Registered, tmp_path: Path
) -> None:
    registry = Path(shutil.copytree(registered.root, tmp_path / "registry"))
    register_version(registry, MODEL, 2, {}, ("candidate",), actor=ACTOR)
    weights = registry / MODEL / "2" / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[100] ^= 1
    weights.write_bytes(bytes(data))
    write_models_config(registry, {MODEL: {"production": 1, "candidate": 2}})
    (tmp_path / "log").mkdir()
    server = Server(registry, tmp_path / "log" / "server.log", "--require-signature")
    try:
        server.wait_until_listening()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            statuses = server.get(f"/v1/models/{MODEL}").json()["model_version_status"]
            states = {status["version"]: status for status in statuses}
            if states.get("2", {}).get("state") == "END" and "1" in states:
                break
            time.sleep(0.2)
        assert states["1"]["state"] == "AVAILABLE"
        refused = states["2"]["status"]["error_message"]
        assert refused.startswith("SignatureError: refusing the version at ")
        assert f"changed {WEIGHTS}: its sha256 " in refused
        reply = server.post(
            f"/v1/models/{MODEL}/labels/production:predict",
            uint8_request(np.zeros((1, 8, 8, 1), np.uint8)),
        )
        assert reply.status == 200, reply.body
        assert (
            server.post(
                f"/v1/models/{MODEL}/labels/candidate:predict",
                uint8_request(np.zeros((1, 8, 8, 1), np.uint8)),
            ).status
            == 404
        )
    finally:
        assert server.stop() == 0, server.log[-3000:]
