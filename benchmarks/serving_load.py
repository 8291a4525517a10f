"""Latency and throughput of ``visionops serve``, with and without micro-batching.

The model is the project's ``simple_cnn`` at its default width (32), with seeded random
weights (a load test needs no training), registered with
``visionops.registry.store.register`` in a temporary registry. By default its input is
the 8x8x1 image of the embedded digits data, the model ``make run`` serves; ``--shape
cifar`` takes 32x32x3 RGB images, whose convolutions cost the CPU about five times as
much per image, so that the model's own arithmetic, which batching cannot save, takes
a larger share of each request. Each request carries one image: by default as a base64
PNG through the default signature (``--input png``), or as a JSON uint8 array
through ``serving_uint8`` (``--input uint8``; parsing a JSON array of numbers costs
the server more than the model's share of a batch, which hides most of what batching
saves).

Four servers run as subprocesses (``python -m visionops serve``), side by side:
``--max-batch-size 32`` and ``--max-batch-size 1`` (batching off), each with
TensorFlow's default thread pools and with ``--intra-op-threads 1``; those not being
measured idle. The load generator runs in this process: asyncio coroutines on uvloop,
one keep-alive HTTP/1.1 connection each (a minimal client on asyncio streams, so that
the client costs the shared CPUs as little as possible), at concurrency 1, 8 and 32.
At each level the servers take turns, ``--rounds`` times each, so that a slow drift in
what the machine gives (a shared or virtual machine's CPUs vary by tens of per cent
over minutes) reaches all alike. Each turn runs a warm-up, then ``--seconds`` of
closed-loop load; every response is checked for status 200.

At concurrency 32, each batched server also takes a turn of the same image over TF
Serving's gRPC API (``--grpc-port``): 32 coroutines calling ``Predict`` on one
grpc.aio channel, with the PNG in ``string_val`` or the uint8 image in ``tensor_content``.

Printed per server and level: p50 and p99 latency over all its turns, the median
requests/s of its turns, and the server's CPU time per request (user + system, from
/proc; unlike requests/s it hardly depends on what else the machine runs). Then, for
each threads setting, the ratio at concurrency 32 (overall and by round), the CPU
per request with and without batching, and the ratio of p50 latencies at concurrency 1
(near 1: a lone request does not wait for a batch to fill); and last, each mode with
the threads setting that served it best, as an operator would run it (gRPC on the batched server's):
``p99_ms_c1=<x> rps_c32_batched=<y> rps_c32_unbatched=<z> ratio=<y/z> rps_c32_grpc=<g>
logging_overhead=<o> canary_overhead=<c>``.

The servers above record no prediction (``--no-prediction-log``). Beside each batched
one runs its twin with the prediction log on, images captured and every request
recorded (the defaults of conf/base/monitoring.yml: sample rate 1, segments of 2,000
rows or 10 s), writing to a temporary folder. At every level each twin takes its
turn beside the server it mirrors (so both are as warm): after it in even rounds,
before it in odd ones (so neither always follows the other). ``logging_overhead`` is
the requests/s of the batched server without the log at concurrency 32 over its
twin's with it (target: at most 1.10), for the threads setting that served the two
best together (chosen by the server alone, it would be the setting whose server had
the luckier turns, and the ratio would lean above 1 by that luck), with the twins'
dropped records (a full queue) printed before it.
``--logging-only`` measures just that: the batched servers and their twins, at
concurrency 32.

Beside each batched server also runs a canary twin: the same options on a registry of
its own where version 2 (the same weights as version 1, so that the two arms cost the
same) runs as a 10% canary of production version 1 (``visionops models rollout
load_test:2 --canary 10%``), under the project's conf/base/release_rollout.yml (its
``canary.compare_share`` of the candidate's requests are asked of production too, off
the request path). It takes its turn beside the server it mirrors, at every level, as
the logged twin does; ``canary_overhead`` is the requests/s of the batched server at
concurrency 32 over its canary twin's (target: at most 1.05), chosen as above, with
the twin's split (requests by arm, from its /metrics, which also shows that no guard
rolled the canary back) printed before it. ``--canary-only`` measures just that, at concurrency 32.

Usage: .venv/bin/python benchmarks/serving_load.py [--seconds 3] [--rounds 3]
[--input png|uint8] [--shape digits|cifar] [--logging-only | --canary-only]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import uvloop

from visionops.registry.signature_names import BYTES_INPUT, UINT8_INPUT, UINT8_SIGNATURE

SHAPES = {"cifar": (32, 32, 3), "digits": (8, 8, 1)}
CLASS_NAMES = tuple(f"class_{index}" for index in range(10))
MODEL_NAME = "load_test"
CONCURRENCY = (1, 8, 32)
BATCH_SIZES = (32, 1)  # batched, then batching off
# TensorFlow's thread pools as `visionops serve` sets them: its default, and one thread
# per op (which leaves the other CPU to the event loop).
THREADS = {"auto": (), "intra1": ("--intra-op-threads", "1")}
Config = tuple[int, str]  # (max batch size, threads)
WARMUP_SECONDS = 1.0
CANARY_SHARE = 0.1


def make_registry(root: Path, image_shape: tuple[int, int, int], canary: bool = False) -> None:
    """Registers a seeded simple_cnn as version 1, labelled production; with ``canary``,
    the same model as version 2 too, rolled out as a 10% canary."""
    import keras

    from visionops.modeling.architectures import build_model
    from visionops.registry.rollout import CANARY, start_rollout
    from visionops.registry.store import Registration, register

    keras.utils.set_random_seed(0)
    model = build_model("simple_cnn", image_shape, len(CLASS_NAMES))
    register(root, Registration(MODEL_NAME, 1, model, CLASS_NAMES, image_shape))
    if canary:
        register(root, Registration(MODEL_NAME, 2, model, CLASS_NAMES, image_shape, labels=()))
        start_rollout(root, MODEL_NAME, 2, CANARY, CANARY_SHARE, reason="load test")


def request_body(kind: str, image_shape: tuple[int, int, int]) -> bytes:
    """One request holding one random image, as ``kind`` (png or uint8)."""
    image = np.random.default_rng(0).integers(0, 256, image_shape, dtype=np.uint8)
    if kind == "uint8":
        document = {"signature_name": UINT8_SIGNATURE, "instances": [image.tolist()]}
        return json.dumps(document).encode()
    import tensorflow as tf

    encoded = base64.b64encode(tf.io.encode_png(image).numpy()).decode()
    return json.dumps({"instances": [{"b64": encoded}]}).encode()


def grpc_request(kind: str, image_shape: tuple[int, int, int]) -> Any:
    """The PredictRequest twin of ``request_body``: the same image and signature."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    image = np.random.default_rng(0).integers(0, 256, image_shape, dtype=np.uint8)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    if kind == "uint8":
        request.model_spec.signature_name = UINT8_SIGNATURE
        request.inputs[UINT8_INPUT].CopyFrom(tf.make_tensor_proto(image[np.newaxis]))
    else:
        encoded = tf.io.encode_png(image).numpy()
        request.inputs[BYTES_INPUT].CopyFrom(tf.make_tensor_proto([encoded]))
    return request


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    registry: Path, port: int, grpc_port: int, config: Config, log_folder: Path | None = None
) -> subprocess.Popen:
    """Starts ``visionops serve`` and waits until /healthz answers 200; it records its
    predictions into ``log_folder`` when given, else none."""
    max_batch_size, threads = config
    command = [sys.executable, "-m", "visionops", "serve", "--registry", str(registry)]
    command += ["--port", str(port), "--grpc-port", str(grpc_port)]
    command += ["--max-batch-size", str(max_batch_size), *THREADS[threads]]
    if log_folder is None:
        command += ["--no-prediction-log"]
    else:  # a project folder of its own: the defaults of monitoring.yml, no write token
        command += ["--project-dir", str(log_folder), "--prediction-log", str(log_folder)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {server.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                if reply.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not become healthy within 120 s")


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: bytes
) -> int:
    writer.write(message)
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _client(
    port: int, message: bytes, stop_at: float, record_from: float, latencies: list[float]
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        while (started := time.perf_counter()) < stop_at:
            status = await _exchange(reader, writer, message)
            sent += 1
            if status != 200:
                raise RuntimeError(f"the server answered {status}")
            if started >= record_from:
                latencies.append(time.perf_counter() - started)
    finally:
        writer.close()
    return sent


async def load(
    port: int, body: bytes, concurrency: int, seconds: float, path: str | None = None
) -> dict[str, Any]:
    """Closed-loop load at ``concurrency`` on ``path`` (default: the model's :predict):
    latencies (ms), requests/s, requests sent."""
    path = path or f"/v1/models/{MODEL_NAME}:predict"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    message = head.encode() + body
    latencies: list[float] = []
    record_from = time.perf_counter() + WARMUP_SECONDS
    stop_at = record_from + seconds
    sent = await asyncio.gather(
        *(_client(port, message, stop_at, record_from, latencies) for _ in range(concurrency))
    )
    return {
        "latencies_ms": np.array(latencies) * 1000,
        "rps": len(latencies) / seconds,
        "requests": sum(sent),
    }


async def _grpc_client(
    stub: Any, request: Any, stop_at: float, record_from: float, latencies: list[float]
) -> int:
    sent = 0
    while (started := time.perf_counter()) < stop_at:
        await stub.Predict(request, timeout=30)  # raises on any status but OK
        sent += 1
        if started >= record_from:
            latencies.append(time.perf_counter() - started)
    return sent


async def grpc_load(port: int, request: Any, concurrency: int, seconds: float) -> dict[str, Any]:
    """``load`` over gRPC: ``concurrency`` coroutines calling Predict on one channel."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    latencies: list[float] = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        record_from = time.perf_counter() + WARMUP_SECONDS
        stop_at = record_from + seconds
        sent = await asyncio.gather(
            *(
                _grpc_client(stub, request, stop_at, record_from, latencies)
                for _ in range(concurrency)
            )
        )
    return {
        "latencies_ms": np.array(latencies) * 1000,
        "rps": len(latencies) / seconds,
        "requests": sum(sent),
    }


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_turn(
    server: subprocess.Popen,
    port: int,
    body: Any,
    concurrency: int,
    seconds: float,
    loader: Any = load,
) -> dict[str, Any]:
    """One turn of closed-loop load on one server (REST, or gRPC with ``grpc_load``); its
    latencies, requests/s and CPU."""
    cpu_before = cpu_seconds(server.pid)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        turn = runner.run(loader(port, body, concurrency, seconds))
    turn["server_cpu_s"] = cpu_seconds(server.pid) - cpu_before
    return turn


def summarise(turns: list[dict[str, Any]]) -> dict[str, float]:
    """Latency percentiles over all turns, median requests/s, server CPU per request."""
    milliseconds = np.concatenate([turn["latencies_ms"] for turn in turns])
    return {
        "p50_ms": float(np.percentile(milliseconds, 50)),
        "p99_ms": float(np.percentile(milliseconds, 99)),
        "rps": float(np.median([turn["rps"] for turn in turns])),
        "server_cpu_ms": 1000
        * sum(turn["server_cpu_s"] for turn in turns)
        / sum(turn["requests"] for turn in turns),
    }


def print_row(
    kind: str, config: Config, level: int, turns: list[dict[str, Any]], extra: str = ""
) -> None:
    """One summary line of a server's turns at one level."""
    row = summarise(turns)
    print(
        f"{kind}max_batch_size={config[0]:<3} threads={config[1]:<6} "
        f"concurrency={level:<3} p50_ms={row['p50_ms']:.2f} "
        f"p99_ms={row['p99_ms']:.2f} rps={row['rps']:.0f} "
        f"server_cpu_ms_per_request={row['server_cpu_ms']:.3f}{extra}",
        flush=True,
    )


def run_rounds(
    servers: dict[Config, tuple[subprocess.Popen, int]],
    twins: dict[str, dict[Config, tuple[subprocess.Popen, int]]],
    grpc: dict[Config, tuple[int, Any]],
    body: bytes,
    levels: tuple[int, ...],
    args: argparse.Namespace,
) -> tuple[dict, dict, dict]:
    """Every server's turns at every level, its twins' (logged, canary) after each of its
    turns, and gRPC's at the top one; the twins' turns are returned at the top level only."""
    top = CONCURRENCY[-1]
    turns = {(config, level): [] for config in servers for level in levels}
    twin_turns = {
        kind: {(config, level): [] for config in group for level in levels}
        for kind, group in twins.items()
    }
    grpc_turns: dict[Config, list[dict[str, Any]]] = {config: [] for config in grpc}
    for level in levels:
        for round_ in range(args.rounds):
            for config, (server, port) in servers.items():
                # At every level, so that both are as warm; the server first in even
                # rounds, its twins first in odd ones, so that neither always follows.
                pairs = [(turns[config, level], server, port)] + [
                    (twin_turns[kind][config, level], *group[config])
                    for kind, group in twins.items()
                    if config in group
                ]
                for into, process, process_port in pairs[:: -1 if round_ % 2 else 1]:
                    into.append(measure_turn(process, process_port, body, level, args.seconds))
                if level == top and config in grpc:
                    grpc_port, predict = grpc[config]
                    grpc_turns[config].append(
                        measure_turn(server, grpc_port, predict, level, args.seconds, grpc_load)
                    )
        for config in servers:
            print_row("", config, level, turns[config, level])
        for kind, group in twins.items():
            for config in group:
                print_row(f"{kind} ", config, level, twin_turns[kind][config, level])
    for config, (_, port) in twins.get("logged", {}).items():
        print(
            f"logged max_batch_size={config[0]} threads={config[1]}: dropped "
            f"{dropped_records(port)} record(s)",
            flush=True,
        )
    for config, (_, port) in twins.get("canary", {}).items():
        print(
            f"canary max_batch_size={config[0]} threads={config[1]}: {canary_split(port)}",
            flush=True,
        )
    for config, config_turns in grpc_turns.items():
        print_row("grpc ", config, top, config_turns)
    top_turns = {
        kind: {config: twin_turns[kind][config, top] for config in group}
        for kind, group in twins.items()
    }
    return turns, top_turns, grpc_turns


def main() -> None:
    """Runs the servers in turns at each level and prints the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per turn")
    parser.add_argument("--rounds", type=int, default=3, help="turns per server and level")
    parser.add_argument("--input", choices=("png", "uint8"), default="png")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="digits")
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--logging-only",
        action="store_true",
        help="only the batched servers with and without the prediction log, at concurrency 32",
    )
    only.add_argument(
        "--canary-only",
        action="store_true",
        help="only the batched servers and their canary twins, at concurrency 32",
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be at least 1 and --seconds above 0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    narrow = args.logging_only or args.canary_only
    with tempfile.TemporaryDirectory() as temporary:
        registry = Path(temporary) / "registry"
        image_shape = SHAPES[args.shape]
        make_registry(registry, image_shape)
        body = request_body(args.input, image_shape)
        print(
            f"model: simple_cnn width 32 on {image_shape}, one image per request "
            f"({args.input}, {len(body)} bytes); {os.cpu_count()} CPUs",
            flush=True,
        )
        sizes = BATCH_SIZES[:1] if narrow else BATCH_SIZES
        levels = CONCURRENCY[-1:] if narrow else CONCURRENCY
        configs = [(size, threads) for size in sizes for threads in THREADS]
        batched = [config for config in configs if config[0] == BATCH_SIZES[0]]
        servers: dict[Config, tuple[subprocess.Popen, int]] = {}
        twins: dict[str, dict[Config, tuple[subprocess.Popen, int]]] = {}
        grpc: dict[Config, tuple[int, Any]] = {}
        predict = grpc_request(args.input, image_shape)
        try:
            for config in configs:
                port, grpc_port = free_port(), free_port()
                servers[config] = (start_server(registry, port, grpc_port, config), port)
                if config in batched and not narrow:
                    grpc[config] = (grpc_port, predict)
            kinds = [kind for kind, skip in TWINS.items() if not getattr(args, skip)]
            start_twins(registry, Path(temporary), image_shape, batched, kinds, twins)
            turns, twin_turns, grpc_turns = run_rounds(servers, twins, grpc, body, levels, args)
        finally:
            for server, _ in [*servers.values(), *(t for g in twins.values() for t in g.values())]:
                server.terminate()
                server.wait(timeout=30)
    if narrow:
        kind = "logged" if args.logging_only else "canary"
        print(overhead_line(kind, turns, batched, twin_turns[kind]))
        return
    report(turns, configs, grpc_turns, twin_turns)


# Each kind of twin, and the option that leaves it out.
TWINS = {"logged": "canary_only", "canary": "logging_only"}


def start_twins(
    registry: Path,
    temporary: Path,
    image_shape: tuple[int, int, int],
    batched: list[Config],
    kinds: list[str],
    twins: dict[str, dict[Config, tuple[subprocess.Popen, int]]],
) -> None:
    """Starts the twins of each batched server into ``twins``: ``logged`` (the prediction
    log on) and ``canary`` (a registry where a 10% canary runs)."""
    if "canary" in kinds:
        canary_registry = temporary / "canary-registry"
        make_registry(canary_registry, image_shape, canary=True)
    for kind in kinds:
        twins[kind] = {}
        for config in batched:
            port = free_port()
            if kind == "logged":
                folder = temporary / f"production-{config[1]}"
                server = start_server(registry, port, free_port(), config, folder)
            else:
                server = start_server(canary_registry, port, free_port(), config)
            twins[kind][config] = (server, port)


def canary_split(port: int) -> str:
    """A canary twin's requests by arm and its rollout's state, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    arms, states = {}, []
    for line in text.splitlines():
        if line.startswith("visionops_serving_rollout_requests_total{"):
            arm = line.split('arm="')[1].split('"')[0]
            arms[arm] = int(float(line.split()[-1]))
        elif line.startswith("visionops_serving_rollout_state{") and line.endswith(" 1"):
            states.append(line.split('state="')[1].split('"')[0])
    answered = sum(arms[arm] for arm in ("production", "candidate", "fallback") if arm in arms)
    share = arms.get("candidate", 0) / answered if answered else 0.0
    split = " ".join(f"{arm}={count}" for arm, count in arms.items())
    return f"{split} (candidate share {share:.4f}); rollout {', '.join(states) or 'absent'}"


def dropped_records(port: int) -> int:
    """Records a server dropped from its prediction log, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    prefix = "visionops_serving_prediction_log_dropped_total{"
    return sum(
        int(float(line.split()[-1])) for line in text.splitlines() if line.startswith(prefix)
    )


OVERHEADS = {"logged": "logging_overhead", "canary": "canary_overhead"}


def overhead_line(
    kind: str,
    turns: dict[tuple[Config, int], list[dict[str, Any]]],
    batched: list[Config],
    twin_turns: dict[Config, list[dict[str, Any]]],
) -> str:
    """``<kind>_overhead=<rps plain / rps twin>`` for the threads setting that served the
    pair best, by round, then the same for each setting.

    The setting is chosen by the requests/s of the server and its twin together: chosen
    by the server's alone, it would be the one whose server had the luckier turns, and
    the ratio would lean above 1 by that luck.
    """
    top = CONCURRENCY[-1]

    def ratio(config: Config) -> float:
        return summarise(turns[config, top])["rps"] / summarise(twin_turns[config])["rps"]

    best = max(
        batched,
        key=lambda config: summarise(turns[config, top] + twin_turns[config])["rps"],
    )
    plain, twin = turns[best, top], twin_turns[best]
    by_round = " ".join(
        f"{one['rps'] / other['rps']:.2f}" for one, other in zip(plain, twin, strict=True)
    )
    each = " ".join(f"threads={config[1]}:{ratio(config):.2f}" for config in batched)
    return f"{OVERHEADS[kind]}={ratio(best):.2f} (threads={best[1]}; by round {by_round}; {each})"


def report(
    turns: dict[tuple[Config, int], list[dict[str, Any]]],
    configs: list[Config],
    grpc_turns: dict[Config, list[dict[str, Any]]],
    twin_turns: dict[str, dict[Config, list[dict[str, Any]]]],
) -> None:
    """Ratios at the top concurrency: per threads setting, then each mode at its best."""
    top = CONCURRENCY[-1]
    rows = {config: summarise(turns[config, top]) for config in configs}
    for threads in THREADS:
        batched, unbatched = rows[BATCH_SIZES[0], threads], rows[BATCH_SIZES[1], threads]
        by_round = [
            b["rps"] / u["rps"]
            for b, u in zip(
                turns[(BATCH_SIZES[0], threads), top],
                turns[(BATCH_SIZES[1], threads), top],
                strict=True,
            )
        ]
        # One client at a time: a lone request must not wait for others to join.
        lone = [summarise(turns[(size, threads), 1])["p50_ms"] for size in BATCH_SIZES]
        print(
            f"threads={threads}: ratio_c{top}={batched['rps'] / unbatched['rps']:.2f} "
            f"(by round {' '.join(f'{ratio:.2f}' for ratio in by_round)}); server CPU ms "
            f"per request batched={batched['server_cpu_ms']:.3f} "
            f"unbatched={unbatched['server_cpu_ms']:.3f}; p50 latency at concurrency 1 "
            f"batched/unbatched={lone[0] / lone[1]:.2f}"
        )
    # Each mode as an operator would run it: with the threads setting that serves it best.
    best = {
        size: max((c for c in configs if c[0] == size), key=lambda c: rows[c]["rps"])
        for size in BATCH_SIZES
    }
    batched, unbatched = rows[best[BATCH_SIZES[0]]], rows[best[BATCH_SIZES[1]]]
    print(
        f"best: batched with threads={best[BATCH_SIZES[0]][1]}, "
        f"unbatched with threads={best[BATCH_SIZES[1]][1]}"
    )
    print(
        f"p99_ms_c1={summarise(turns[best[BATCH_SIZES[0]], 1])['p99_ms']:.2f} "
        f"rps_c32_batched={batched['rps']:.0f} rps_c32_unbatched={unbatched['rps']:.0f} "
        f"ratio={batched['rps'] / unbatched['rps']:.2f} "
        f"rps_c{top}_grpc={summarise(grpc_turns[best[BATCH_SIZES[0]]])['rps']:.0f} "
        + " ".join(
            overhead_line(kind, turns, list(group), group).split(" (")[0]
            for kind, group in twin_turns.items()
        )
    )


if __name__ == "__main__":
    main()
