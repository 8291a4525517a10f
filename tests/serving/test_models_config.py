"""What ``visionops serve`` reads from models.config: version policies and base paths.

Each test runs a real server on a registry built by the conftest fixtures.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from visionops.registry.layout import MODELS_CONFIG, list_versions, read_models_config

from .support import MODEL, Server, images, png_request

LATEST_TWO = f"""model_config_list {{
  config {{
    name: "{MODEL}"
    base_path: "{MODEL}"
    model_platform: "tensorflow"
    model_version_policy {{ latest {{ num_versions: 2 }} }}
  }}
}}
"""


def states(server: Server) -> dict[int, str]:
    reply = server.get(f"/v1/models/{MODEL}")
    assert reply.status == 200, reply.body
    return {int(s["version"]): s["state"] for s in reply.json()["model_version_status"]}


def answering_version(server: Server, reference, path: str) -> int:
    """Which version answered a predict call on ``path``, told apart by its outputs."""
    probe = images(2, seed=7)
    reply = server.post(path, png_request(probe))
    assert reply.status == 200, reply.body
    got = [row["probabilities"] for row in reply.json()["predictions"]]
    (version,) = [
        v for v in (1, 2, 3) if np.allclose(got, reference(v, probe)["probabilities"], atol=1e-5)
    ]
    return version


@pytest.mark.parametrize("config", ["written", "latest-2"])
def test_every_version_the_policy_serves_answers_and_no_other(
    make_registry, start_server, reference, config: str
) -> None:
    """Written: labelled version 1 and newest 3. By hand: latest 2, i.e. 2 and 3."""
    registry = make_registry((1, 2, 3), {"production": 1})
    if config == "latest-2":
        (registry / MODELS_CONFIG).write_text(LATEST_TWO)
    entry = read_models_config(registry)[MODEL]
    served = entry.policy.select(list_versions(registry, MODEL))
    server = start_server(registry)

    assert served == ({1, 3} if config == "written" else {2, 3})
    assert states(server) == dict.fromkeys(served, "AVAILABLE")
    for version in sorted(served):
        status = server.get(f"/v1/models/{MODEL}/versions/{version}")
        assert status.status == 200
        assert status.json()["model_version_status"][0]["state"] == "AVAILABLE"
        path = f"/v1/models/{MODEL}/versions/{version}:predict"
        assert answering_version(server, reference, path) == version
    (outside,) = {1, 2, 3} - served
    status = server.get(f"/v1/models/{MODEL}/versions/{outside}")
    predict = server.post(f"/v1/models/{MODEL}/versions/{outside}:predict", png_request(images(1)))
    for reply in (status, predict):
        assert reply.status == 404
        assert "outside the version policy in models.config" in reply.json()["error"]
        assert f"serves versions {sorted(served)}" in reply.json()["error"]


def test_a_copied_registry_is_served_from_its_new_place(
    make_registry, start_server, reference, tmp_path: Path
) -> None:
    original = make_registry((1, 2), {"production": 1})
    moved = tmp_path / "mounted" / "registry"
    shutil.copytree(original, moved)
    shutil.rmtree(original)

    server = start_server(moved)

    assert states(server) == {1: "AVAILABLE", 2: "AVAILABLE"}
    assert answering_version(server, reference, f"/v1/models/{MODEL}:predict") == 1
    assert answering_version(server, reference, f"/v1/models/{MODEL}/versions/2:predict") == 2


def test_an_old_models_config_with_absolute_paths_of_another_place_is_served(
    make_registry, start_server, reference
) -> None:
    """Written before base paths were relative, elsewhere, with the policy then written."""
    registry = make_registry((1, 2, 3), {"production": 2})
    (registry / MODELS_CONFIG).write_text(
        "model_config_list {\n"
        "  config {\n"
        f'    name: "{MODEL}"\n'
        f'    base_path: "/nonexistent/old-project/registry/{MODEL}"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { all {} }\n"
        '    version_labels { key: "production" value: 2 }\n'
        "  }\n"
        "}\n"
    )

    server = start_server(registry)

    assert states(server) == {1: "AVAILABLE", 2: "AVAILABLE", 3: "AVAILABLE"}
    assert answering_version(server, reference, f"/v1/models/{MODEL}:predict") == 2
    label_path = f"/v1/models/{MODEL}/labels/production:predict"
    assert answering_version(server, reference, label_path) == 2
