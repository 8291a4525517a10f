"""Bad input cannot exhaust the server: decompression bombs get 400, a flood of bodies 503.

The live tests run in order against one server, whose memory (VmRSS and its peak, VmHWM,
from /proc) is read around them; the last ones check it is healthy afterwards.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from bombs import SIDE, jpeg_bomb, png_bomb, png_file
from visionops.serving.errors import ImageTooLargeError
from visionops.serving.limits import (
    InflightBytes,
    check_image_sizes,
    image_pixel_limit,
)
from visionops.serving.signatures import Signature, TensorInfo

from .support import MODEL, Reply, Server, encoded, images, png_request

PREDICT = f"/v1/models/{MODEL}:predict"
DEFAULT_LIMIT = 1024 * 1024  # the floor: 64 x 8 x 8 is less
MAX_BODY_MB, MAX_INFLIGHT_MB = 4, 8
BODY_BYTES = 3_500_000  # two fit in the bound, a third does not
FLOOD = 64
# What the server's peak memory may grow by in the flood. Without the bound the 64
# bodies (224 MB) are read in at once.
FLOOD_GROWTH_BOUND = 100 * 1024 * 1024


def signature_taking(**inputs: tuple[tf.DType, tuple]) -> Signature:
    infos = {key: TensorInfo(key, dtype, shape, key) for key, (dtype, shape) in inputs.items()}
    return Signature("serving_default", infos, {}, function=lambda **_: {})


def version_with(*signatures: Signature) -> SimpleNamespace:
    return SimpleNamespace(signatures={signature.name: signature for signature in signatures})


@pytest.mark.parametrize(
    ("shape", "configured", "limit"),
    [
        ((None, 8, 8, 1), None, DEFAULT_LIMIT),  # digits: the floor
        ((None, 32, 32, 3), None, DEFAULT_LIMIT),  # CIFAR: 65,536 x 64 is the floor too
        ((None, 224, 224, 3), None, 64 * 224 * 224),
        ((None,), None, 4096 * 4096),  # no image size to go by
        ((None, 8, 8, 1), 500, 500),  # --max-image-pixels wins
    ],
)
def test_the_pixel_limit_is_sized_for_the_model(
    shape: tuple, configured: int | None, limit: int
) -> None:
    dtype = tf.string if len(shape) == 1 else tf.uint8
    version = version_with(signature_taking(images=(dtype, shape)))

    assert image_pixel_limit(version, configured) == limit


def test_the_first_image_over_the_limit_is_named_by_its_instance() -> None:
    signature = signature_taking(image_bytes=(tf.string, (None,)))
    files = np.array([png_file(8, 8), b"not an image", png_bomb(), jpeg_bomb()], dtype=object)

    with pytest.raises(ImageTooLargeError) as raised:
        check_image_sizes({"image_bytes": files}, signature, DEFAULT_LIMIT)

    assert raised.value.status_code == 400
    assert str(raised.value).startswith("instance 2: input 'image_bytes' holds a PNG image")
    check_image_sizes({"image_bytes": files[:2]}, signature, DEFAULT_LIMIT)  # no error


def test_a_reservation_is_given_back_and_never_passes_the_bound() -> None:
    budget = InflightBytes(limit=100)

    with budget.reservation() as first:
        assert first.grow(60)
        with budget.reservation() as second:
            assert not second.grow(41)
            assert second.grow(40)
            assert budget.held == 100
        assert budget.held == 60
    assert budget.held == 0


def memory_kib(server: Server) -> dict[str, int]:
    """The server process's VmRSS and VmHWM (peak RSS), in KiB."""
    fields = {}
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


@pytest.fixture(scope="module")
def server(make_registry, start_server) -> Server:
    registry = make_registry((1,), {"production": 1})
    return start_server(
        registry, "--max-body-mb", str(MAX_BODY_MB), "--max-inflight-mb", str(MAX_INFLIGHT_MB)
    )


@pytest.mark.parametrize(("bomb", "image_format"), [(png_bomb, "PNG"), (jpeg_bomb, "JPEG")])
def test_a_decompression_bomb_is_refused_before_it_is_decoded(
    server: Server, bomb, image_format: str
) -> None:
    good = base64.b64encode(encoded(images(1)[0])).decode()
    document = {"instances": [{"b64": good}, {"b64": base64.b64encode(bomb()).decode()}]}
    before = memory_kib(server)

    reply = server.post(PREDICT, document)

    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert error.startswith(f"instance 1: input 'image_bytes' holds a {image_format} image")
    assert f"declares {SIDE}x{SIDE} pixels (400,000,000)" in error
    assert f"over the limit of {DEFAULT_LIMIT:,} pixels" in error
    assert "--max-image-pixels" in error
    # Decoded, the bomb would take 400 MB (one byte per pixel).
    assert memory_kib(server)["VmHWM"] - max(before.values()) < 50 * 1024


def test_the_default_limit_takes_a_1024x1024_image_and_refuses_one_pixel_row_more(
    server: Server,
) -> None:
    largest, larger = png_file(1024, 1024), png_file(1024, 1025)

    taken = server.post(PREDICT, {"instances": [{"b64": base64.b64encode(largest).decode()}]})
    refused = server.post(PREDICT, {"instances": [{"b64": base64.b64encode(larger).decode()}]})

    assert taken.status == 200, taken.body
    assert refused.status == 400
    assert "declares 1024x1025 pixels (1,049,600)" in refused.json()["error"]


def padded_body(size: int) -> bytes:
    """A valid predict body of one image, padded with JSON whitespace to ``size`` bytes."""
    body = json.dumps(png_request(images(1, seed=3))).encode()
    return body + b" " * (size - len(body))


def send_staged(server: Server, bodies: list[bytes]) -> list[Reply]:
    """Sends every request's headers and first bytes, then, once all are waiting, the rest
    of every body at once; returns the responses in order."""
    connections = []
    for body in bodies:
        connection = socket.create_connection(("127.0.0.1", server.port), timeout=120)
        head = (
            f"POST {PREDICT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        connection.sendall(head + body[:1024])
        connections.append(connection)
    time.sleep(1.0)  # every request has started: the server has decided on each

    def finish(index: int) -> Reply:
        connection = connections[index]
        with connection:
            connection.sendall(bodies[index][1024:])
            response = http.client.HTTPResponse(connection)
            response.begin()
            headers = {name.lower(): value for name, value in response.getheaders()}
            return Reply(response.status, headers, response.read())

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(finish, range(len(bodies))))


def test_a_flood_of_large_requests_gets_503_and_memory_stays_bounded(
    server: Server, reference
) -> None:
    before = memory_kib(server)

    replies = send_staged(server, [padded_body(BODY_BYTES)] * FLOOD)

    after = memory_kib(server)
    statuses = [reply.status for reply in replies]
    assert set(statuses) <= {200, 503}, statuses
    assert 0 < statuses.count(200) < FLOOD
    assert statuses.count(503) >= FLOOD // 2
    expected = reference(1, images(1, seed=3))["probabilities"]
    for reply in replies:
        assert reply.headers["content-type"] == "application/json"
        if reply.status == 200:
            got = reply.json()["predictions"][0]["probabilities"]
            np.testing.assert_allclose(got, expected[0], atol=1e-6)
        else:
            assert "--max-inflight-mb" in reply.json()["error"]
            assert reply.headers["retry-after"] == "1"
    growth = (after["VmHWM"] - max(before.values())) * 1024
    assert growth < FLOOD_GROWTH_BOUND, f"peak memory grew by {growth / 2**20:.0f} MiB"
    refusals = server.get("/metrics").body.decode()
    assert (
        f'visionops_serving_refusals_total{{reason="inflight_bytes"}} {statuses.count(503)}'
        in refusals
    )
    assert 'visionops_serving_refusals_total{reason="image_pixels"}' in refusals


def test_after_the_flood_the_server_is_healthy_and_answers(server: Server, reference) -> None:
    batch = images(2, seed=4)

    health = server.get("/healthz")
    reply = server.post(PREDICT, png_request(batch))

    assert health.status == 200
    assert reply.status == 200
    got = [row["probabilities"] for row in reply.json()["predictions"]]
    np.testing.assert_allclose(got, reference(1, batch)["probabilities"], atol=1e-6)
    assert 'code="500"' not in server.get("/metrics").body.decode()
