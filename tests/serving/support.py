"""Helpers of the model server tests: the test model's shape, a server process and client."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from visionops.registry.signature_names import UINT8_SIGNATURE

MODEL = "digits"
IMAGE_SHAPE = (8, 8, 1)
CLASS_NAMES = ("zero", "one", "two")
STARTUP_SECONDS = 120


@dataclass(frozen=True)
class Reply:
    """An HTTP response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def serve(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Runs ``visionops serve ARGUMENTS`` to its end (for options it refuses at once)."""
    return subprocess.run(
        [sys.executable, "-m", "visionops", "serve", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def free_ports(count: int) -> list[int]:
    """``count`` different TCP ports on 127.0.0.1 that nothing listens on now."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


class Server:
    """A ``visionops serve`` subprocess (REST and gRPC on free ports) and a small HTTP client.

    Its project folder (``--project-dir``, for conf/ and the write tokens) is the log's
    folder unless ``options`` name one, and its prediction log goes to ``production/``
    there; ``env`` is laid over this process's environment, less ``VISIONOPS_WRITE_TOKEN``.
    """

    def __init__(
        self, registry: Path, log_path: Path, *options: str, env: dict[str, str] | None = None
    ) -> None:
        self.registry = registry
        self.log_path = log_path
        self.port, self.grpc_port = free_ports(2)
        self.project_dir = log_path.parent
        command = [sys.executable, "-m", "visionops", "serve", "--registry", str(registry)]
        command += ["--port", str(self.port), "--grpc-port", str(self.grpc_port), *options]
        if "--project-dir" not in options:
            command += ["--project-dir", str(self.project_dir)]
        else:
            self.project_dir = Path(options[options.index("--project-dir") + 1])
        self.production = self.project_dir / "production"
        if "--prediction-log" not in options:
            command += ["--prediction-log", str(self.production)]
        else:
            self.production = Path(options[options.index("--prediction-log") + 1])
        environment = {k: v for k, v in os.environ.items() if k != "VISIONOPS_WRITE_TOKEN"}
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**environment, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
            )

    @property
    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait_until_listening(self) -> None:
        """Blocks until the server answers /healthz (with any status)."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited early:\n{self.log[-3000:]}")
            try:
                self.request("GET", "/healthz", timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the server did not answer in {STARTUP_SECONDS} s:\n{self.log}")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Reply:
        """Sends one request on a new connection and reads the whole response."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(
                response.status,
                {name.lower(): value for name, value in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    def get(self, path: str) -> Reply:
        """GET ``path``."""
        return self.request("GET", path)

    def post(self, path: str, document: Any) -> Reply:
        """POST ``document`` as JSON to ``path``."""
        body = json.dumps(document).encode()
        return self.request("POST", path, body, {"Content-Type": "application/json"})

    def stop(self) -> int:
        """Sends SIGTERM and returns the exit status (killing it after 30 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def images(count: int, seed: int = 0) -> np.ndarray:
    """Random uint8 digits-shaped images, ``[count, 8, 8, 1]``."""
    return np.random.default_rng(seed).integers(0, 256, (count, *IMAGE_SHAPE), dtype=np.uint8)


def encoded(image: np.ndarray, image_format: str = "PNG") -> bytes:
    """One ``[H, W, 1]`` uint8 image as a PNG or JPEG (quality 95) file, encoded by Pillow."""
    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0], mode="L").save(buffer, format=image_format, quality=95)
    return buffer.getvalue()


def png_b64(image: np.ndarray) -> str:
    """One ``[H, W, 1]`` uint8 image as a base64 PNG, encoded without TensorFlow."""
    return base64.b64encode(encoded(image)).decode()


def png_request(batch: np.ndarray) -> dict[str, Any]:
    """A predict body for the default signature: each image as ``{"b64": <PNG>}``."""
    return {"instances": [{"b64": png_b64(image)} for image in batch]}


def uint8_request(batch: np.ndarray) -> dict[str, Any]:
    """A predict body sending the images as uint8 arrays, to the signature that takes them."""
    return {"signature_name": UINT8_SIGNATURE, "instances": batch.tolist()}
