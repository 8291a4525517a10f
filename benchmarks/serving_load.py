"""Latency and throughput of ``visionops serve``, with and without micro-batching.

The model is the project's ``simple_cnn`` at its default width (32) on 32x32x3 RGB
images (CIFAR-10 shaped; ``--shape digits`` for 8x8x1), 10 classes, seeded random
weights (a load test needs no training), registered with
``visionops.registry.store.register`` in a temporary registry. Each request carries
one image: by default as a base64 PNG through the ``serving_bytes`` signature
(``--input png``), or as a JSON uint8 array through ``serving_default`` (``--input
uint8``; parsing 3,072 JSON numbers costs the server more than the model's share of
a batch, which hides most of what batching saves).

The server runs as a subprocess (``python -m visionops serve``), twice: with
``--max-batch-size 32`` and with ``--max-batch-size 1`` (batching off). The load
generator runs in this process: asyncio coroutines, one keep-alive HTTP/1.1
connection each (a minimal client on asyncio streams, so that the client costs the
shared CPUs as little as possible), at concurrency 1, 8 and 32. Each level runs a
warm-up, then ``--seconds`` of closed-loop load; every response is checked for
status 200. Printed per level: p50 and p99 latency, requests/s, and the server's CPU
time per request (user + system, from /proc; unlike requests/s it hardly depends on
what else the machine runs). Then the CPU per request at concurrency 32 with and
without batching, and last:
``p99_ms_c1=<x> rps_c32_batched=<y> rps_c32_unbatched=<z> ratio=<y/z>``.

Usage: .venv/bin/python benchmarks/serving_load.py [--seconds 5] [--input png|uint8]
[--shape cifar|digits]
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

import numpy as np

SHAPES = {"cifar": (32, 32, 3), "digits": (8, 8, 1)}
CLASS_NAMES = tuple(f"class_{index}" for index in range(10))
MODEL_NAME = "load_test"
CONCURRENCY = (1, 8, 32)
WARMUP_SECONDS = 1.0


def make_registry(root: Path, image_shape: tuple[int, int, int]) -> None:
    """Registers a seeded simple_cnn as version 1, labelled production."""
    import keras

    from visionops.modeling.architectures import build_model
    from visionops.registry.store import Registration, register

    keras.utils.set_random_seed(0)
    model = build_model("simple_cnn", image_shape, len(CLASS_NAMES))
    register(root, Registration(MODEL_NAME, 1, model, CLASS_NAMES, image_shape))


def request_body(kind: str, image_shape: tuple[int, int, int]) -> bytes:
    """One request holding one random image, as ``kind`` (png or uint8)."""
    image = np.random.default_rng(0).integers(0, 256, image_shape, dtype=np.uint8)
    if kind == "uint8":
        return json.dumps({"instances": [image.tolist()]}).encode()
    import tensorflow as tf

    encoded = base64.b64encode(tf.io.encode_png(image).numpy()).decode()
    return json.dumps({"signature_name": "serving_bytes", "instances": [{"b64": encoded}]}).encode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(registry: Path, port: int, max_batch_size: int) -> subprocess.Popen:
    """Starts ``visionops serve`` and waits until /healthz answers 200."""
    command = [sys.executable, "-m", "visionops", "serve", "--registry", str(registry)]
    command += ["--port", str(port), "--max-batch-size", str(max_batch_size)]
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


async def load(port: int, body: bytes, concurrency: int, seconds: float) -> dict[str, float]:
    """Closed-loop load at ``concurrency``; latency percentiles (ms) and requests/s."""
    head = (
        f"POST /v1/models/{MODEL_NAME}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    message = head.encode() + body
    latencies: list[float] = []
    record_from = time.perf_counter() + WARMUP_SECONDS
    stop_at = record_from + seconds
    sent = await asyncio.gather(
        *(_client(port, message, stop_at, record_from, latencies) for _ in range(concurrency))
    )
    milliseconds = np.array(latencies) * 1000
    return {
        "p50_ms": float(np.percentile(milliseconds, 50)),
        "p99_ms": float(np.percentile(milliseconds, 99)),
        "rps": len(latencies) / seconds,
        "requests": sum(sent),
    }


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(registry: Path, body: bytes, max_batch_size: int, seconds: float) -> dict:
    """Results per concurrency level against one server run."""
    port = free_port()
    server = start_server(registry, port, max_batch_size)
    try:
        results = {}
        for concurrency in CONCURRENCY:
            cpu_before = cpu_seconds(server.pid)
            row = results[concurrency] = asyncio.run(load(port, body, concurrency, seconds))
            server_cpu_ms = (cpu_seconds(server.pid) - cpu_before) * 1000 / row["requests"]
            row["server_cpu_ms"] = server_cpu_ms
            print(
                f"max_batch_size={max_batch_size:<3} concurrency={concurrency:<3} "
                f"p50_ms={row['p50_ms']:.2f} p99_ms={row['p99_ms']:.2f} rps={row['rps']:.0f} "
                f"server_cpu_ms_per_request={server_cpu_ms:.3f}",
                flush=True,
            )
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    """Runs both server configurations and prints the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per level")
    parser.add_argument("--input", choices=("png", "uint8"), default="png")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="cifar")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
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
        batched = measure(registry, body, 32, args.seconds)
        unbatched = measure(registry, body, 1, args.seconds)
    rps_batched, rps_unbatched = batched[32]["rps"], unbatched[32]["rps"]
    cpu_batched, cpu_unbatched = batched[32]["server_cpu_ms"], unbatched[32]["server_cpu_ms"]
    print(
        f"server_cpu_ms_per_request_c32: batched={cpu_batched:.3f} "
        f"unbatched={cpu_unbatched:.3f} cpu_ratio={cpu_unbatched / cpu_batched:.2f}"
    )
    print(
        f"p99_ms_c1={batched[1]['p99_ms']:.2f} rps_c32_batched={rps_batched:.0f} "
        f"rps_c32_unbatched={rps_unbatched:.0f} ratio={rps_batched / rps_unbatched:.2f}"
    )


if __name__ == "__main__":
    main()
