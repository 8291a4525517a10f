"""Ingestion on a Ray cluster writes what local ingestion writes; without RAY_ADDRESS
nothing touches Ray."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visionops.dataplane.ingest import make_job
from visionops.dataplane.parallel import run_tasks
from visionops.dataplane.reuse import shard_bounds
from visionops.errors import ConfigError
from visionops.sources import open_source

CLUSTER_SCRIPT = Path(__file__).parents[2] / "scripts" / "ray_local_cluster.sh"
# Outside Ray's worker ports (10002-19999); the cluster has a namespace to itself.
RAY_PORT = 26379
IMAGES_PER_SHARD = 25


def make_folder(root: Path, per_class: int = 100) -> Path:
    """Three class folders of small PNG and JPEG files of several sizes and modes."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(("circle", "square", "stripe")):
        folder = root / name
        folder.mkdir(parents=True)
        for index in range(per_class):
            height, width = 20 + index % 7, 24 + index % 5
            pixels = rng.integers(0, 90, size=(height, width, 3), dtype=np.uint8)
            pixels[:, label * 6 : label * 6 + 6] += 150
            image = Image.fromarray(pixels)
            if index % 3 == 0:
                image.convert("L").save(folder / f"{index:03d}.png")
            elif index % 3 == 1:
                image.save(folder / f"{index:03d}.jpg", quality=90)
            else:
                image.convert("RGBA").save(folder / f"{index:03d}.png")
    return root


def ingestion_params(folder: Path) -> dict:
    return {
        "source": "image_folder",
        "path": str(folder),
        "image_size": [16, 16],
        "channels": 3,
        "images_per_shard": IMAGES_PER_SHARD,
    }


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _env_without_ray() -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("RAY_ADDRESS", None)
    return env


def test_ingestion_without_ray_address_never_imports_ray(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "images", per_class=10)
    code = textwrap.dedent(
        f"""
        import sys
        from visionops.dataplane.ingest import make_job
        from visionops.sources import open_source
        params = {ingestion_params(folder)!r}
        make_job(open_source("image_folder", params["path"]), params).write(
            __import__("pathlib").Path({str(tmp_path / "out")!r}))
        print("ray" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=_env_without_ray(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "False"
    assert (tmp_path / "out" / "index.parquet").exists()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_cluster_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=f"RAY_ADDRESS={address}"):
        list(run_tasks(len, [("abc",)], tasks=1, images=1))
    assert time.monotonic() - started < 30, "Ray's own retries take minutes"


# Runs inside the cluster's namespaces: ingests with RAY_ADDRESS set, recording which
# node ran each task, then runs a task that fails.
DRIVER = """
import json, sys, time, uuid
from pathlib import Path

import ray

from visionops.dataplane import batch, ingest
from visionops.dataplane.parallel import run_tasks
from visionops.dataplane.reuse import shard_bounds
from visionops.errors import SourceError
from visionops.sources import open_source

params, target, report = json.loads(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
marks = report.parent / "task_nodes"
marks.mkdir()


def recording(*args, **kwargs):
    node = ray.get_runtime_context().get_node_id()
    (marks / uuid.uuid4().hex).write_text(node)
    # A 25-image task takes milliseconds, so one node could finish each before the next
    # is placed; held a moment, each task keeps its node's one CPU busy, and Ray must
    # place the next task on the other node.
    time.sleep(0.3)
    return batch.process_files(*args, **kwargs)


def failing(name):
    raise SourceError(f"image folder {name} vanished during ingestion")


ingest.process_files = recording
started = time.perf_counter()
ingest.make_job(open_source("image_folder", params["path"]), params).write(target)
seconds = time.perf_counter() - started
try:
    list(run_tasks(failing, [("/data/pets",)], tasks=1, images=1))
    error = None
except Exception as raised:
    error = {"type": type(raised).__name__, "message": str(raised)}
report.write_text(json.dumps({
    "seconds": seconds,
    "cluster_nodes": len([node for node in ray.nodes() if node["Alive"]]),
    "task_nodes": sorted(path.read_text() for path in marks.iterdir()),
    "error": error,
}))
"""


def cluster_prefix() -> list[str]:
    """The command that runs a command against a 2-node cluster; skips where this
    machine does not allow the namespaces it needs."""
    namespaces = ["unshare", "--net", "--pid", "--fork", "--mount-proc"]
    if os.geteuid() != 0:
        namespaces.insert(1, "--map-root-user")
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed: no loopback-only namespace for the Ray cluster")
    trial = subprocess.run([*namespaces, "true"], capture_output=True, text=True, check=False)
    if trial.returncode != 0:
        pytest.skip(f"unshare is not permitted here ({trial.stderr.strip()})")
    return ["bash", str(CLUSTER_SCRIPT), "2", str(RAY_PORT)]


@pytest.mark.slow
def test_ingestion_on_two_ray_nodes_writes_the_bytes_local_ingestion_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(tmp_path / "images")
    params = ingestion_params(folder)
    prefix = cluster_prefix()
    (tmp_path / "run").mkdir()
    report = tmp_path / "run" / "report.json"
    env = _env_without_ray()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    started = time.perf_counter()
    result = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-c",
            DRIVER,
            json.dumps(params),
            str(tmp_path / "on_ray"),
            str(report),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    whole = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-4000:]
    outcome = json.loads(report.read_text())

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    local_started = time.perf_counter()
    make_job(open_source("image_folder", folder), params).write(tmp_path / "local")
    local_seconds = time.perf_counter() - local_started
    print(
        f"300 images in 12 shards: {outcome['seconds']:.2f} s on 2 Ray nodes "
        f"({whole:.1f} s with cluster start and stop), {local_seconds:.2f} s locally"
    )

    assert outcome["cluster_nodes"] == 2
    shards = len(shard_bounds(open_source("image_folder", folder).source_ids, IMAGES_PER_SHARD))
    assert len(outcome["task_nodes"]) == shards
    assert len(set(outcome["task_nodes"])) == 2, "every task ran on one node"
    on_ray, local = files_of(tmp_path / "on_ray"), files_of(tmp_path / "local")
    assert {"index.parquet", "dataset.json", "thumbnails.npy"} <= set(local)
    assert len([name for name in local if name.startswith("shards/")]) == shards
    assert on_ray.keys() == local.keys()
    different = [name for name in local if on_ray[name] != local[name]]
    assert not different, f"differ from local ingestion: {different}"
    assert outcome["error"] == {
        "type": "SourceError",
        "message": "image folder /data/pets vanished during ingestion",
    }
