"""Malformed requests get a 4xx JSON error naming the mistake, and the server keeps serving.

The tests of this module run in order: the last ones check that, after every bad
request above, the server is healthy and still answers a good request correctly.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket

import numpy as np
import pytest

from visionops.registry.signature_names import BYTES_SIGNATURE, UINT8_SIGNATURE

from .support import MODEL, Server, images, png_b64, uint8_request

PREDICT = f"/v1/models/{MODEL}:predict"
MAX_BODY_MB = 0.05  # 52,428 bytes: small, so the 413 cases stay cheap
IMAGE = images(1, seed=0)[0].tolist()


def with_pixel(value: object) -> list:
    """One valid image with its first pixel replaced by ``value``."""
    image = json.loads(json.dumps(IMAGE))
    image[0][0][0] = value
    return image


def ragged() -> list:
    image = json.loads(json.dumps(IMAGE))
    image[3] = image[3][:5]
    return image


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def uint8(document: dict) -> bytes:
    """``document`` sent to the signature taking uint8 arrays."""
    return body({"signature_name": UINT8_SIGNATURE, **document})


CASES = [
    # (id, method, path, body, status, words the error message must contain)
    ("invalid-json", "POST", PREDICT, b'{"instances": [', 400, "not valid JSON"),
    ("not-utf8", "POST", PREDICT, b"\xff\xfe\x00", 400, "not valid JSON"),
    ("deeply-nested", "POST", PREDICT, b"[" * 20_000, 400, "not valid JSON"),
    ("json-array-body", "POST", PREDICT, body([IMAGE]), 400, "must be a JSON object"),
    ("both-formats", "POST", PREDICT, body({"instances": [IMAGE], "inputs": [IMAGE]}), 400, "both"),
    (
        "neither-format",
        "POST",
        PREDICT,
        body({"signature_name": "serving_default"}),
        400,
        "neither",
    ),
    (
        "misspelt-key",
        "POST",
        PREDICT,
        body({"instance": [IMAGE]}),
        400,
        "unknown key(s) ['instance']",
    ),
    ("empty-instances", "POST", PREDICT, body({"instances": []}), 400, "'instances' is empty"),
    ("empty-inputs", "POST", PREDICT, uint8({"inputs": []}), 400, "has no values"),
    ("instances-not-list", "POST", PREDICT, body({"instances": 7}), 400, "must be a list"),
    ("wrong-shape", "POST", PREDICT, uint8({"instances": [[1, 2, 3]]}), 400, "[N, 8, 8, 1]"),
    (
        "missing-batch-dim",
        "POST",
        PREDICT,
        uint8({"inputs": IMAGE}),
        400,
        "takes shape [N, 8, 8, 1]",
    ),
    (
        "float-pixels",
        "POST",
        PREDICT,
        uint8({"instances": [with_pixel(0.5)]}),
        400,
        "floating-point",
    ),
    ("negative-pixel", "POST", PREDICT, uint8({"instances": [with_pixel(-1)]}), 400, "0..255"),
    ("pixel-over-255", "POST", PREDICT, uint8({"instances": [with_pixel(256)]}), 400, "0..255"),
    ("huge-integer", "POST", PREDICT, uint8({"instances": [with_pixel(2**70)]}), 400, "uint8"),
    ("string-pixel", "POST", PREDICT, uint8({"instances": [with_pixel("7")]}), 400, "got strings"),
    ("null-pixel", "POST", PREDICT, uint8({"instances": [with_pixel(None)]}), 400, "nulls"),
    ("boolean-pixel", "POST", PREDICT, uint8({"instances": [with_pixel(True)]}), 400, "booleans"),
    ("ragged-image", "POST", PREDICT, uint8({"instances": [ragged()]}), 400, "ragged"),
    (
        "nan-pixel",
        "POST",
        PREDICT,
        b'{"signature_name": "serving_uint8", "instances": [[[[NaN]]]]}',
        400,
        "floating-point",
    ),
    (
        "unknown-signature",
        "POST",
        PREDICT,
        body({"signature_name": "serving_floats", "instances": [IMAGE]}),
        400,
        "no signature 'serving_floats'",
    ),
    (
        "signature-not-string",
        "POST",
        PREDICT,
        body({"signature_name": 1, "instances": [IMAGE]}),
        400,
        "must be a string",
    ),
    (
        "wrong-input-name-rows",
        "POST",
        PREDICT,
        body({"instances": [{"pixels": IMAGE}]}),
        400,
        "unknown input(s) ['pixels']",
    ),
    (
        "wrong-input-name-columns",
        "POST",
        PREDICT,
        uint8({"inputs": {"pixels": [IMAGE]}}),
        400,
        "takes ['images']",
    ),
    (
        "mixed-named-and-bare",
        "POST",
        PREDICT,
        uint8({"instances": [{"images": IMAGE}, IMAGE]}),
        400,
        "every instance",
    ),
    (
        "bad-base64",
        "POST",
        PREDICT,
        body({"signature_name": BYTES_SIGNATURE, "instances": [{"b64": "not base64!"}]}),
        400,
        "not base64",
    ),
    (
        "bytes-not-an-image",
        "POST",
        PREDICT,
        body(
            {
                "signature_name": BYTES_SIGNATURE,
                "instances": [{"b64": base64.b64encode(b"hello").decode()}],
            }
        ),
        400,
        "Unknown image file format",
    ),
    (
        "bytes-sent-as-plain-string",
        "POST",
        PREDICT,
        body({"signature_name": BYTES_SIGNATURE, "instances": ["iVBORw0KGgo="]}),
        400,
        '{"b64": "<base64>"}',
    ),
    (
        "image-to-bytes-signature",
        "POST",
        PREDICT,
        body({"signature_name": BYTES_SIGNATURE, "instances": [IMAGE]}),
        400,
        "image_bytes",
    ),
    (
        "unknown-model",
        "POST",
        "/v1/models/mnist:predict",
        body({"instances": [IMAGE]}),
        404,
        "model 'mnist' is not served",
    ),
    (
        "unknown-version",
        "POST",
        f"/v1/models/{MODEL}/versions/9:predict",
        body({"instances": [IMAGE]}),
        404,
        "version 9",
    ),
    (
        "unknown-label",
        "POST",
        f"/v1/models/{MODEL}/labels/staging:predict",
        body({"instances": [IMAGE]}),
        404,
        "no label 'staging'",
    ),
    ("status-unknown-model", "GET", "/v1/models/mnist", None, 404, "'mnist'"),
    ("status-unknown-version", "GET", f"/v1/models/{MODEL}/versions/9", None, 404, "no version 9"),
    (
        "metadata-unknown-label",
        "GET",
        f"/v1/models/{MODEL}/labels/nope/metadata",
        None,
        404,
        "no label 'nope'",
    ),
    (
        "version-not-a-number",
        "GET",
        f"/v1/models/{MODEL}/versions/latest",
        None,
        404,
        "no endpoint",
    ),
    ("unknown-path", "GET", "/v2/models", None, 404, "no endpoint GET /v2/models"),
    (
        "unsupported-verb",
        "POST",
        f"/v1/models/{MODEL}:classify",
        body({"examples": []}),
        404,
        "no endpoint",
    ),
    ("get-on-predict", "GET", PREDICT, None, 405, "use POST"),
    ("post-on-status", "POST", f"/v1/models/{MODEL}", body({}), 405, "use GET"),
    ("delete-model", "DELETE", f"/v1/models/{MODEL}", None, 405, "method DELETE is not allowed"),
    (
        "body-over-limit",
        "POST",
        PREDICT,
        body({"instances": [IMAGE] * 300}),
        413,
        "at most 52428 bytes",
    ),
]


@pytest.fixture(scope="module")
def server(make_registry, start_server) -> Server:
    return start_server(make_registry((1,), {"production": 1}), "--max-body-mb", str(MAX_BODY_MB))


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_request_gets_a_json_error_naming_the_mistake(
    server: Server, method: str, path: str, payload: bytes | None, status: int, words: str
) -> None:
    headers = {"Content-Type": "application/json"} if payload is not None else {}

    reply = server.request(method, path, payload, headers)

    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert words in reply.json()["error"]


def test_declared_body_size_over_the_limit_is_refused_before_reading(server: Server) -> None:
    # Only the headers are sent: the server must answer from Content-Length alone.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(
            f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000000000\r\n\r\n".encode()
        )
        response = http.client.HTTPResponse(connection)
        response.begin()
        answer = json.loads(response.read())

    assert response.status == 413
    assert "1000000000 bytes" in answer["error"]


def test_chunked_body_over_the_limit_is_refused_by_the_bytes_read(server: Server) -> None:
    chunk = b" " * 16384
    # An iterable body without Content-Length: http.client sends it chunked (~80 kB).
    chunks = iter([b'{"instances": ', *[chunk] * 5, b"[]}"])

    reply = server.request("POST", PREDICT, chunks, {"Content-Type": "application/json"})

    assert reply.status == 413
    assert "over 52428 bytes" in reply.json()["error"]


def test_after_bad_requests_the_server_is_healthy(server: Server) -> None:
    reply = server.get("/healthz")

    assert reply.status == 200
    assert reply.json()["status"] == "ok"


def test_after_bad_requests_a_good_request_is_answered(server: Server, reference) -> None:
    batch = images(2, seed=9)

    reply = server.post(PREDICT, uint8_request(batch))
    bytes_reply = server.post(PREDICT, {"instances": [{"b64": png_b64(i)} for i in batch]})

    assert reply.status == bytes_reply.status == 200
    expected = reference(1, batch)["probabilities"]
    for answer in (reply, bytes_reply):
        probabilities = [row["probabilities"] for row in answer.json()["predictions"]]
        np.testing.assert_allclose(probabilities, expected, atol=1e-6)


def test_client_errors_are_counted_by_status_code(server: Server) -> None:
    text = server.get("/metrics").body.decode()

    assert (
        'visionops_serving_requests_total{model="digits",version="",method="predict",code="400",'
        'protocol="rest"}' in text
    )
    assert 'code="404"' in text
    assert 'code="500"' not in text
