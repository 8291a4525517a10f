"""Every endpoint of a live server, answering as TensorFlow Serving's REST API does."""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import pytest

from visionops.registry.signature_names import (
    BYTES_INPUT,
    BYTES_SIGNATURE,
    DEFAULT_SIGNATURE,
    EXPORTED_SIGNATURES,
    UINT8_INPUT,
    UINT8_SIGNATURE,
)

from .support import CLASS_NAMES, MODEL, Server, images, png_b64, png_request, uint8_request

PREDICT = f"/v1/models/{MODEL}:predict"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


@pytest.fixture(scope="module")
def server(make_registry, start_server) -> Server:
    """Versions 1 (production) and 2 (candidate, and the latest)."""
    return start_server(make_registry((1, 2), {"production": 1, "candidate": 2}))


def assert_matches(predictions: list[dict], expected: dict[str, np.ndarray]) -> None:
    """Row-format predictions equal the in-process SavedModel's outputs, in order."""
    assert len(predictions) == len(expected["class_ids"])
    for row, prediction in enumerate(predictions):
        assert set(prediction) == {"probabilities", "class_ids", "class_names"}
        np.testing.assert_allclose(
            prediction["probabilities"], expected["probabilities"][row], atol=1e-6
        )
        assert prediction["class_ids"] == int(expected["class_ids"][row])
        assert prediction["class_names"] == expected["class_names"][row].decode()


def test_healthz_reports_versions_and_labels(server: Server) -> None:
    reply = server.get("/healthz")

    assert reply.status == 200
    assert reply.json() == {
        "status": "ok",
        "models": {
            MODEL: {
                "versions": {"1": "AVAILABLE", "2": "AVAILABLE"},
                "labels": {"candidate": 2, "production": 1},
                "default_version": 1,
            }
        },
    }


def test_model_status_lists_every_loaded_version_in_tf_serving_shape(server: Server) -> None:
    reply = server.get(f"/v1/models/{MODEL}")

    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {
        "model_version_status": [
            {
                "version": str(v),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
            for v in (1, 2)
        ]
    }


@pytest.mark.parametrize(
    ("path", "version"),
    [
        ("/versions/2", "2"),
        ("/versions/1", "1"),
        ("/labels/production", "1"),
        ("/labels/candidate", "2"),
    ],
)
def test_status_of_one_version_by_number_or_label(server: Server, path: str, version: str) -> None:
    reply = server.get(f"/v1/models/{MODEL}{path}")

    assert reply.status == 200
    (status,) = reply.json()["model_version_status"]
    assert status == {
        "version": version,
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }


def test_metadata_describes_every_signature(server: Server) -> None:
    reply = server.get(f"/v1/models/{MODEL}/metadata")

    assert reply.status == 200
    body = reply.json()
    assert body["model_spec"] == {"name": MODEL, "signature_name": "", "version": "1"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == set(EXPORTED_SIGNATURES)
    uint8 = signatures[UINT8_SIGNATURE]
    assert uint8["method_name"] == "tensorflow/serving/predict"
    images_input = uint8["inputs"][UINT8_INPUT]
    assert images_input["dtype"] == "DT_UINT8"
    assert [dim["size"] for dim in images_input["tensor_shape"]["dim"]] == ["-1", "8", "8", "1"]
    outputs = uint8["outputs"]
    assert {key: value["dtype"] for key, value in outputs.items()} == {
        "probabilities": "DT_FLOAT",
        "class_ids": "DT_INT32",
        "class_names": "DT_STRING",
    }
    probabilities_dims = outputs["probabilities"]["tensor_shape"]["dim"]
    assert [dim["size"] for dim in probabilities_dims] == ["-1", str(len(CLASS_NAMES))]
    for name in (DEFAULT_SIGNATURE, BYTES_SIGNATURE):
        bytes_input = signatures[name]["inputs"][BYTES_INPUT]
        assert bytes_input["dtype"] == "DT_STRING"
        assert [dim["size"] for dim in bytes_input["tensor_shape"]["dim"]] == ["-1"]
        assert signatures[name]["outputs"].keys() == outputs.keys()


@pytest.mark.parametrize(("path", "version"), [("/versions/2", "2"), ("/labels/production", "1")])
def test_metadata_of_a_named_version(server: Server, path: str, version: str) -> None:
    reply = server.get(f"/v1/models/{MODEL}{path}/metadata")

    assert reply.status == 200
    assert reply.json()["model_spec"]["version"] == version


def test_predict_row_format_matches_the_saved_model(server: Server, reference) -> None:
    batch = images(4, seed=1)

    reply = server.post(PREDICT, uint8_request(batch))

    assert reply.status == 200
    assert_matches(reply.json()["predictions"], reference(1, batch))


def test_predict_columnar_format_matches_the_saved_model(server: Server, reference) -> None:
    batch = images(3, seed=2)

    reply = server.post(PREDICT, {"signature_name": UINT8_SIGNATURE, "inputs": batch.tolist()})

    assert reply.status == 200
    outputs = reply.json()["outputs"]
    expected = reference(1, batch)
    np.testing.assert_allclose(outputs["probabilities"], expected["probabilities"], atol=1e-6)
    assert outputs["class_ids"] == expected["class_ids"].tolist()
    assert outputs["class_names"] == [name.decode() for name in expected["class_names"]]


def test_predict_with_named_inputs_in_both_formats(server: Server, reference) -> None:
    batch = images(2, seed=3)
    expected = reference(1, batch)

    rows = server.post(
        PREDICT,
        {
            "signature_name": UINT8_SIGNATURE,
            "instances": [{UINT8_INPUT: image} for image in batch.tolist()],
        },
    )
    columns = server.post(
        PREDICT, {"signature_name": UINT8_SIGNATURE, "inputs": {UINT8_INPUT: batch.tolist()}}
    )

    assert rows.status == columns.status == 200
    assert_matches(rows.json()["predictions"], expected)
    np.testing.assert_allclose(
        columns.json()["outputs"]["probabilities"], expected["probabilities"], atol=1e-6
    )


@pytest.mark.parametrize(
    ("path", "version"),
    [
        ("", 1),  # no version named: the production label
        ("/versions/1", 1),
        ("/versions/2", 2),
        ("/labels/production", 1),
        ("/labels/candidate", 2),
    ],
)
def test_predict_by_version_and_label(server: Server, reference, path: str, version: int) -> None:
    batch = images(2, seed=4)

    reply = server.post(f"/v1/models/{MODEL}{path}:predict", png_request(batch))

    assert reply.status == 200
    assert_matches(reply.json()["predictions"], reference(version, batch))


def test_versions_give_different_answers(reference) -> None:
    # The promotion tests tell versions apart by their output; make sure they can.
    batch = images(1, seed=5)
    assert not np.allclose(
        reference(1, batch)["probabilities"], reference(2, batch)["probabilities"]
    )


def test_predict_b64_png_through_serving_bytes(server: Server, reference) -> None:
    batch = images(3, seed=6)
    instances = [{"b64": png_b64(image)} for image in batch]

    reply = server.post(PREDICT, {"signature_name": BYTES_SIGNATURE, "instances": instances})

    assert reply.status == 200
    assert_matches(reply.json()["predictions"], reference(1, batch))


def test_predict_b64_png_named_input_in_columnar_format(server: Server, reference) -> None:
    batch = images(2, seed=7)
    document = {
        "signature_name": BYTES_SIGNATURE,
        "inputs": {BYTES_INPUT: [{"b64": png_b64(image)} for image in batch]},
    }

    reply = server.post(f"/v1/models/{MODEL}/versions/2:predict", document)

    assert reply.status == 200
    expected = reference(2, batch)
    np.testing.assert_allclose(
        reply.json()["outputs"]["probabilities"], expected["probabilities"], atol=1e-6
    )


def parse_prometheus(text: str) -> tuple[dict[str, str], dict[tuple[str, frozenset], float]]:
    """Parses Prometheus text format strictly: metric types, and samples by name and labels."""
    types: dict[str, str] = {}
    samples: dict[tuple[str, frozenset], float] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"counter", "gauge", "histogram", "summary", "untyped"}
            types[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name, _, label_text, value = match.groups()
        labels = frozenset((key, val) for key, val, _ in LABEL.findall(label_text or ""))
        family = re.sub(r"_(bucket|sum|count|total)$", "", name)
        assert name in types or family in types, f"{name} has no # TYPE line"
        samples[name, labels] = float(value)
    return types, samples


def test_metrics_parse_as_prometheus_text_and_count_requests(server: Server) -> None:
    counter = "visionops_serving_requests_total"
    key = (
        counter,
        frozenset(
            {
                ("model", MODEL),
                ("version", "1"),
                ("method", "predict"),
                ("code", "200"),
                ("protocol", "rest"),
            }
        ),
    )
    _, before = parse_prometheus(server.get("/metrics").body.decode())
    for seed in range(3):
        assert server.post(PREDICT, png_request(images(1, seed))).status == 200

    reply = server.get("/metrics")

    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    types, samples = parse_prometheus(reply.body.decode())
    assert types[counter] == "counter"
    assert samples[key] == before.get(key, 0) + 3
    assert types["visionops_serving_request_duration_seconds"] == "histogram"
    assert types["visionops_serving_batch_size"] == "histogram"
    buckets = defaultdict(list)
    for (name, labels), value in samples.items():
        if name.endswith("_bucket"):
            le = dict(labels)["le"]
            series = (name, labels - {("le", le)})
            buckets[series].append((float(le), value))
    assert buckets
    for (name, labels), points in buckets.items():
        counts = [value for _, value in sorted(points)]
        assert counts == sorted(counts), f"{name} buckets are not cumulative"
        assert counts[-1] == samples[name.replace("_bucket", "_count"), labels]
    gauge = "visionops_serving_model_version"
    assert types[gauge] == "gauge"
    assert samples[gauge, frozenset({("model", MODEL), ("label", "production")})] == 1
    assert samples[gauge, frozenset({("model", MODEL), ("label", "candidate")})] == 2


def test_openapi_schema_lists_the_api(server: Server) -> None:
    reply = server.get("/openapi.json")

    assert reply.status == 200
    paths = reply.json()["paths"]
    for path in (
        "/v1/models/{name}",
        "/v1/models/{name}/versions/{version}",
        "/v1/models/{name}/labels/{label}/metadata",
        "/v1/models/{name}:predict",
        "/v1/models/{name}/versions/{version}:predict",
        "/healthz",
        "/metrics",
    ):
        assert path in paths, f"{path} missing from the OpenAPI schema"
    assert "requestBody" in paths["/v1/models/{name}:predict"]["post"]
