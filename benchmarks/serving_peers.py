"""Requests/s of ``visionops serve`` beside BentoML and Ray Serve, batching the same model.

Every server loads serving_load.py's model (``simple_cnn`` on 8x8x1 digits images,
seeded weights, one SavedModel in a temporary registry) with ``tf.saved_model.load``
and calls its ``serving_bytes`` signature (which the default one also is, in the current
export), decoding and resizing PNGs in the graph, on batches of at most 32:

- visionops: ``visionops serve --max-batch-size 32`` (2 ms batch timeout, its default);
- BentoML: ``@bentoml.api(batchable=True, max_batch_size=32, max_latency_ms=1000)``, one
  worker (benchmarks/peers/bentoml/service.py);
- Ray Serve: ``@serve.batch(max_batch_size=32, batch_wait_timeout_s=0.002)``, a replica
  per application behind Serve's HTTP proxy; Ray has 2 CPUs and no dashboard
  (benchmarks/peers/rayserve/serve_app.py).

Every request is the same bytes, TF Serving's REST body for one PNG:
``{"instances": [{"b64": "..."}]}``. Each framework runs with TensorFlow's default
thread pools and with one thread per op (``auto``, ``intra1``, as in serving_load.py)
and is scored at its better setting. All servers run side by side on 127.0.0.1; the
ones not measured idle. Once the peers' environments are built, the benchmark runs
itself again in a network namespace with loopback only (``unshare --net``, as root),
so nothing it starts can listen on, or send to, the host's address. Load:
serving_load.py's client (uvloop, one keep-alive connection per
coroutine, closed loop), concurrency 32, every answer checked for 200. After a warm-up
turn each, the servers take turns, ``--rounds`` times (1 s warm-up, ``--seconds``
measured), so that drift in the shared machine's speed reaches all alike.

Printed: each round's requests/s; per server, p50/p99 latency, median requests/s, CPU
of its processes per request and, while others are measured, per second; the ratio by
round; last, ``rps_visionops=<a> rps_bentoml=<b> rps_rayserve=<c>
ratio_vs_best_peer=<a/max(b,c)>``. Peer servers' output goes to build/peers/logs/.

Usage: .venv/bin/python benchmarks/serving_peers.py [--rounds 3] [--seconds 4] [--skip-build]

Each peer runs in build/peers/<peer>/venv, built here from
benchmarks/peers/<peer>/requirements.txt (all pinned; TensorFlow and what it loads models
with at requirements.lock's versions): venv, uv from requirements-bootstrap.lock, ``uv
pip install``. A stamp keeps the hash of both files; later runs reuse the environment
until they change, and ``--skip-build`` uses it as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import uvloop

from serving_load import (
    MODEL_NAME,
    SHAPES,
    THREADS,
    free_port,
    load,
    make_registry,
    request_body,
    start_server,
    summarise,
)
from visionops.registry.layout import version_dir
from visionops.serving.options import ServeOptions

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "benchmarks" / "peers"
BUILD = ROOT / "build" / "peers"
FRAMEWORKS = ("visionops", "bentoml", "rayserve")
CONCURRENCY = 32
MAX_BATCH_SIZE = 32
BATCH_WAIT_MS = ServeOptions.batch_timeout_ms  # visionops serve's default, for Ray Serve too
LOGS = BUILD / "logs"
READY_TIMEOUT_S = 300.0


@dataclass
class Server:
    """One servable configuration: a framework with one TensorFlow threads setting."""

    framework: str
    threads: str
    port: int
    path: str
    process: subprocess.Popen
    turns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.framework}/{self.threads}"


def build_peer(name: str, skip_build: bool) -> Path:
    """The peer's virtual environment, (re)built when its requirements changed.

    Raises:
        RuntimeError: ``skip_build`` is set and the environment was never built.
    """
    venv = BUILD / name / "venv"
    requirements = PEERS / name / "requirements.txt"
    bootstrap = ROOT / "requirements-bootstrap.lock"
    digest = hashlib.sha256(requirements.read_bytes() + bootstrap.read_bytes()).hexdigest()
    stamp = BUILD / name / "installed.sha256"
    if skip_build or (stamp.is_file() and stamp.read_text() == digest):
        if not (venv / "bin" / "python").is_file():
            raise RuntimeError(f"{venv} is missing; run once without --skip-build")
        return venv
    print(f"building {venv} from {requirements.relative_to(ROOT)} (once)", flush=True)
    stamp.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        + ["--require-hashes", "--no-deps", "-r", str(bootstrap)],
        check=True,
    )
    subprocess.run(
        [str(venv / "bin" / "uv"), "pip", "install", "--quiet", "--python", python]
        + ["-r", str(requirements)],
        check=True,
        env={**os.environ, "UV_NATIVE_TLS": "1"},
    )
    stamp.write_text(digest)
    return venv


def peer_environment(venv: Path, settings: dict[str, str]) -> dict[str, str]:
    """The environment of a peer server: its venv first, its settings, no usage reports."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return (
        env
        | settings
        | {
            "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "BENTOML_HOME": str(BUILD / "bentoml" / "home"),
            "BENTOML_DO_NOT_TRACK": "true",
            "RAY_USAGE_STATS_ENABLED": "0",
        }
    )


def start_peers(fleet: Fleet, venvs: dict[str, Path], model_dir: Path, workdir: Path) -> None:
    """Starts BentoML (a server per threads setting) and Ray Serve (one application per
    setting behind one proxy); returns without waiting for them."""
    for threads in THREADS:
        port = free_port()
        command = [str(venvs["bentoml"] / "bin" / "bentoml"), "serve", "service:Classifier"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        settings = {
            "PEER_MODEL_DIR": str(model_dir),
            "PEER_INTRA_OP_THREADS": "1" if threads == "intra1" else "0",
        }
        process = _spawn(command, "bentoml", venvs["bentoml"], settings, f"bentoml-{threads}")
        fleet.add(Server("bentoml", threads, port, "/predict", process))
    port = free_port()
    command = [str(venvs["rayserve"] / "bin" / "python"), "serve_app.py"]
    command += ["--model-dir", str(model_dir), "--port", str(port), "--threads", ",".join(THREADS)]
    command += ["--temp-dir", str(workdir / "ray")]  # removed after Ray's processes stop
    settings = {"PEER_BATCH_WAIT_MS": str(BATCH_WAIT_MS)}
    process = _spawn(command, "rayserve", venvs["rayserve"], settings, "rayserve")
    for threads in THREADS:
        fleet.add(Server("rayserve", threads, port, f"/{threads}", process))


def _spawn(
    command: list[str], peer: str, venv: Path, settings: dict[str, str], log_name: str
) -> subprocess.Popen:
    with (LOGS / f"{log_name}.log").open("wb") as log:
        return subprocess.Popen(
            command,
            cwd=PEERS / peer,
            env=peer_environment(venv, settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            # Out of reach of the terminal's Ctrl-C, which would cut Ray's own shutdown
            # short: Fleet stops it, with SIGTERM.
            start_new_session=True,
        )


def wait_ready(server: Server, body: bytes) -> None:
    """Waits until the server answers a prediction with 200.

    Raises:
        RuntimeError: The server exited, or did not answer within READY_TIMEOUT_S.
    """
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{server.path}",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.label} exited; its output is in {LOGS}")
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:  # not listening yet, or 503 while loading
            time.sleep(0.5)
    raise RuntimeError(f"{server.label} did not answer within {READY_TIMEOUT_S:.0f} s")


class Fleet:
    """The servers of one run. Leaving its ``with`` block (Ctrl-C included) stops each
    server process, then any process of theirs still running: Ray's actors run in
    sessions of their own."""

    def __init__(self) -> None:
        self.servers: list[Server] = []
        self._processes: list[subprocess.Popen] = []
        self._family: list[psutil.Process] = []

    def add(self, server: Server) -> None:
        self.servers.append(server)
        if server.process not in self._processes:
            self._processes.append(server.process)

    def note_family(self) -> None:
        """Remembers every process the servers run now, to stop any left at the end."""
        self._family += [member for process in self._processes for member in family(process)]

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.note_family()
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for leftover in self._family:
            with contextlib.suppress(psutil.NoSuchProcess):
                if leftover.is_running():
                    leftover.kill()


def family(process: subprocess.Popen) -> list[psutil.Process]:
    """The process and every process below it that is running now."""
    try:
        root = psutil.Process(process.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User and system CPU time the processes have used so far."""
    total = 0.0
    for member in processes:
        try:
            times = member.cpu_times()
        except psutil.Error:  # exited since; its CPU is lost to the count
            continue
        total += times.user + times.system
    return total


def measure_turn(server: Server, servers: list[Server], body: bytes, seconds: float) -> None:
    """One turn of load on ``server``; records its rate and CPU, and the others' idle CPU."""
    families = {id(s.process): family(s.process) for s in servers}
    before = {key: cpu_seconds(members) for key, members in families.items()}
    started = time.perf_counter()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        turn = runner.run(load(server.port, body, CONCURRENCY, seconds, server.path))
    wall = time.perf_counter() - started
    used = {key: cpu_seconds(members) - before[key] for key, members in families.items()}
    turn["server_cpu_s"] = used.pop(id(server.process))
    turn["idle_cpu"] = {key: spent / wall for key, spent in used.items()}
    server.turns.append(turn)


def report(servers: list[Server], rounds: int) -> None:
    """Per server and per round, then the last line: each framework at its best setting."""
    rows = {server.label: summarise(server.turns) for server in servers}
    for server in servers:
        row = rows[server.label]
        idle = [
            turn["idle_cpu"][id(server.process)]
            for other in servers
            if other.process is not server.process
            for turn in other.turns
        ]
        print(
            f"{server.label:<18} p50_ms={row['p50_ms']:.2f} p99_ms={row['p99_ms']:.2f} "
            f"rps={row['rps']:.0f} server_cpu_ms_per_request={row['server_cpu_ms']:.3f} "
            f"idle_cpu_per_s={np.mean(idle):.3f}"
        )
    best = {
        name: max((s for s in servers if s.framework == name), key=lambda s: rows[s.label]["rps"])
        for name in FRAMEWORKS
    }
    print("best: " + ", ".join(best[name].label for name in FRAMEWORKS))
    for index in range(rounds):
        rates = {name: best[name].turns[index]["rps"] for name in FRAMEWORKS}
        print(
            f"round {index + 1}: "
            + " ".join(f"{name}={rates[name]:.0f}" for name in FRAMEWORKS)
            + f" ratio={rates['visionops'] / max(rates['bentoml'], rates['rayserve']):.2f}"
        )
    rps = {name: rows[best[name].label]["rps"] for name in FRAMEWORKS}
    print(
        f"rps_visionops={rps['visionops']:.0f} rps_bentoml={rps['bentoml']:.0f} "
        f"rps_rayserve={rps['rayserve']:.0f} "
        f"ratio_vs_best_peer={rps['visionops'] / max(rps['bentoml'], rps['rayserve']):.2f}"
    )


def start_all(fleet: Fleet, venvs: dict[str, Path], workdir: Path) -> bytes:
    """Registers the model, starts every server and waits for each; returns the request
    body."""
    registry = workdir / "registry"
    make_registry(registry, SHAPES["digits"])
    model_dir = version_dir(registry, MODEL_NAME, 1)
    body = request_body("png", SHAPES["digits"])
    LOGS.mkdir(parents=True, exist_ok=True)
    start_peers(fleet, venvs, model_dir, workdir)  # they load while visionops starts
    for threads in THREADS:
        port = free_port()
        process = start_server(registry, port, free_port(), (MAX_BATCH_SIZE, threads))
        path = f"/v1/models/{MODEL_NAME}:predict"
        fleet.add(Server("visionops", threads, port, path, process))
    fleet.servers.sort(key=lambda server: FRAMEWORKS.index(server.framework))
    for server in fleet.servers:
        wait_ready(server, body)
    fleet.note_family()
    return body


LOOPBACK_ONLY = "VISIONOPS_LOOPBACK_NAMESPACE"


def rerun_with_loopback_only(argv: list[str]) -> None:
    """Runs this benchmark again in a network namespace that has only loopback.

    Ray's internal services listen on the host's network address whatever they are
    told, and the servers here must talk over loopback only; inside a new network
    namespace (root: ``unshare -n``) the host's address does not exist. The peers'
    environments are built before, while the package index can still be reached.
    """
    if not (shutil.which("unshare") and shutil.which("ip") and os.geteuid() == 0):
        sys.exit(
            "serving_peers: Ray Serve would listen on the host's network address; run this "
            "as root on Linux (unshare and ip), which serves everything in a network "
            "namespace with loopback only"
        )
    os.environ[LOOPBACK_ONLY] = "1"
    script = 'ip link set lo up && exec "$@"'
    command = [sys.executable, *argv, "--skip-build"]
    os.execvp("unshare", ["unshare", "--net", "sh", "-c", script, "sh", *command])


def main() -> None:
    """Builds the peers' environments, then serves, loads and reports."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="turns per server")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per turn")
    parser.add_argument("--skip-build", action="store_true", help="use build/peers as it is")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be at least 1 and --seconds above 0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on kill too
    venvs = {name: build_peer(name, args.skip_build) for name in ("bentoml", "rayserve")}
    if os.environ.get(LOOPBACK_ONLY) != "1":
        rerun_with_loopback_only(sys.argv)
    # Fleet stops the servers before their temporary folder goes.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as workdir, Fleet() as fleet:
        body = start_all(fleet, venvs, Path(workdir))
        servers = fleet.servers
        print(
            f"{len(servers)} servers ready; one {len(body)}-byte PNG request each, "
            f"concurrency {CONCURRENCY}, {os.cpu_count()} CPUs; warming up",
            flush=True,
        )
        for server in servers:
            measure_turn(server, servers, body, 2.0)
            server.turns.clear()
        for index in range(args.rounds):
            for server in servers:
                measure_turn(server, servers, body, args.seconds)
            print(
                f"round {index + 1}: "
                + " ".join(f"{s.label}={s.turns[-1]['rps']:.0f}" for s in servers),
                flush=True,
            )
    report(servers, args.rounds)


if __name__ == "__main__":
    main()
