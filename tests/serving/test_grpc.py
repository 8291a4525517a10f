"""TF Serving's gRPC API on a live server, spoken to with tensorflow-serving-api's own stubs.

The tests of this module run in order against one server: predictions, metadata and
status first, then malformed requests (each answered with the right status code and a
message naming the mistake), then checks that the server is still healthy, a label
move under gRPC traffic, and last a clean stop on SIGTERM.
"""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from PIL import Image
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from visionops.registry.layout import write_models_config

from .support import IMAGE_SHAPE, MODEL, Server, free_ports, images, serve

BYTES_SIGNATURE = "serving_bytes"  # encoded images, in every layout visionops has exported
TIMEOUT = 30


class Client:
    """PredictionService and ModelService stubs on one channel to a server's gRPC port."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        return self.prediction.Predict(request, timeout=TIMEOUT)

    def signatures(self, **spec: Any) -> dict[str, Any]:
        """The SignatureDefs of GetModelMetadata, by name."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        set_spec(request.model_spec, **spec)
        response = self.prediction.GetModelMetadata(request, timeout=TIMEOUT)
        definitions = get_model_metadata_pb2.SignatureDefMap()
        assert response.metadata["signature_def"].Unpack(definitions)
        return dict(definitions.signature_def)

    def status(self, **spec: Any) -> dict[int, str]:
        """GetModelStatus: the state name of each version it reports."""
        request = get_model_status_pb2.GetModelStatusRequest()
        set_spec(request.model_spec, **spec)
        response = self.models.GetModelStatus(request, timeout=TIMEOUT)
        state = get_model_status_pb2.ModelVersionStatus.State
        return {entry.version: state.Name(entry.state) for entry in response.model_version_status}


def set_spec(
    spec: Any,
    name: str = MODEL,
    version: int | None = None,
    label: str | None = None,
    signature: str = "",
) -> None:
    spec.name = name
    if version is not None:
        spec.version.value = version
    if label is not None:
        spec.version_label = label
    spec.signature_name = signature


def predict_request(
    inputs: dict[str, tensor_pb2.TensorProto], **spec: Any
) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    set_spec(request.model_spec, **spec)
    for key, tensor in inputs.items():
        request.inputs[key].CopyFrom(tensor)
    return request


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0], mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """The start of a PNG file declaring ``width`` x ``height`` grey pixels, with no pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(header))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def outputs_of(response: predict_pb2.PredictResponse) -> dict[str, np.ndarray]:
    return {key: tf.make_ndarray(tensor) for key, tensor in response.outputs.items()}


@pytest.fixture(scope="module")
def registry(make_registry) -> Path:
    return make_registry((1, 2), {"production": 1, "candidate": 2})


@pytest.fixture(scope="module")
def server(registry: Path, start_server) -> Server:
    # A long batch timeout makes concurrent calls merge; a small body limit keeps the
    # too-large case cheap; quick polls keep the label move short.
    return start_server(
        registry, "--batch-timeout-ms", "20", "--max-body-mb", "0.05", "--poll-seconds", "0.2"
    )


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Client]:
    client = Client(server.grpc_port)
    yield client
    client.channel.close()


@pytest.fixture(scope="module")
def uint8_signature(client: Client) -> str:
    """The signature that takes uint8 images ``[N, 8, 8, 1]``, found by its dtype."""
    (name,) = [
        name
        for name, definition in client.signatures().items()
        if [info.dtype for info in definition.inputs.values()] == [types_pb2.DT_UINT8]
    ]
    return name


@pytest.fixture(scope="module")
def model_outputs(saved_versions: dict[int, Path]) -> Callable[[int, np.ndarray], dict]:
    """Outputs of a version's SavedModel called in this process: ``(version, images)``."""
    loaded = {version: tf.saved_model.load(str(saved_versions[version])) for version in (1, 2)}

    def predict(version: int, batch: np.ndarray) -> dict[str, np.ndarray]:
        for function in loaded[version].signatures.values():
            (spec,) = function.structured_input_signature[1].values()
            if spec.dtype == tf.uint8:
                (key,) = function.structured_input_signature[1]
                outputs = function(**{key: tf.constant(batch)})
                return {name: value.numpy() for name, value in outputs.items()}
        raise AssertionError("the SavedModel has no uint8 signature")

    return predict


def assert_answers(outputs: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert set(outputs) == {"probabilities", "class_ids", "class_names"}
    np.testing.assert_allclose(outputs["probabilities"], expected["probabilities"], atol=1e-6)
    np.testing.assert_array_equal(outputs["class_ids"], expected["class_ids"])
    np.testing.assert_array_equal(outputs["class_names"], expected["class_names"])


def test_predict_answers_as_the_model_and_the_rest_api_do(
    server: Server, client: Client, uint8_signature: str, model_outputs
) -> None:
    batch = images(3, seed=1)
    request = predict_request({"images": tf.make_tensor_proto(batch)}, signature=uint8_signature)

    response = client.predict(request)
    rest = server.post(
        f"/v1/models/{MODEL}:predict",
        {"signature_name": uint8_signature, "instances": batch.tolist()},
    )

    assert (response.model_spec.name, response.model_spec.version.value) == (MODEL, 1)
    assert response.model_spec.signature_name == uint8_signature
    outputs = outputs_of(response)
    assert outputs["probabilities"].dtype == np.float32
    assert outputs["probabilities"].shape == (3, 3)
    assert_answers(outputs, model_outputs(1, batch))
    assert rest.status == 200
    rest_rows = rest.json()["predictions"]
    np.testing.assert_allclose(
        outputs["probabilities"], [row["probabilities"] for row in rest_rows], atol=1e-6
    )
    assert outputs["class_names"].tolist() == [row["class_names"].encode() for row in rest_rows]


def test_values_listed_in_int_val_give_the_same_answer_as_tensor_content(
    client: Client, uint8_signature: str, model_outputs
) -> None:
    batch = images(2, seed=2)
    listed = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_UINT8,
        tensor_shape=tf.TensorShape(batch.shape).as_proto(),
        int_val=batch.reshape(-1).tolist(),
    )

    response = client.predict(predict_request({"images": listed}, signature=uint8_signature))

    assert_answers(outputs_of(response), model_outputs(1, batch))


def test_encoded_images_in_string_val_give_the_same_answer(client: Client, model_outputs) -> None:
    batch = images(4, seed=3)
    encoded = tf.make_tensor_proto([png(image) for image in batch])

    response = client.predict(predict_request({"image_bytes": encoded}, signature=BYTES_SIGNATURE))

    assert response.model_spec.signature_name == BYTES_SIGNATURE
    assert_answers(outputs_of(response), model_outputs(1, batch))


def test_a_request_naming_no_signature_or_version_gets_the_default_ones(
    client: Client, model_outputs
) -> None:
    batch = images(1, seed=4)
    (key, info), *_ = client.signatures()["serving_default"].inputs.items()
    if info.dtype == types_pb2.DT_STRING:
        tensor = tf.make_tensor_proto([png(batch[0])])
    else:
        tensor = tf.make_tensor_proto(batch)

    response = client.predict(predict_request({key: tensor}))

    assert response.model_spec.signature_name == "serving_default"
    assert response.model_spec.version.value == 1, "the production label's version answers"
    assert_answers(outputs_of(response), model_outputs(1, batch))


@pytest.mark.parametrize(
    ("spec", "version"),
    [
        ({"version": 2}, 2),
        ({"version": 1}, 1),
        ({"label": "candidate"}, 2),
        ({"label": "production"}, 1),
    ],
    ids=["version-2", "version-1", "label-candidate", "label-production"],
)
def test_model_spec_selects_the_version_or_label(
    client: Client, uint8_signature: str, model_outputs, spec: dict, version: int
) -> None:
    batch = images(2, seed=5)
    request = predict_request(
        {"images": tf.make_tensor_proto(batch)}, signature=uint8_signature, **spec
    )

    response = client.predict(request)

    assert response.model_spec.version.value == version
    assert_answers(outputs_of(response), model_outputs(version, batch))


def test_output_filter_returns_only_the_outputs_named(client: Client, uint8_signature: str) -> None:
    request = predict_request(
        {"images": tf.make_tensor_proto(images(1, seed=6))}, signature=uint8_signature
    )
    request.output_filter.append("class_ids")

    response = client.predict(request)

    assert list(response.outputs) == ["class_ids"]


def test_metadata_lists_the_signatures_as_the_rest_api_does(
    server: Server, client: Client, uint8_signature: str
) -> None:
    definitions = client.signatures(label="candidate")
    rest = server.get(f"/v1/models/{MODEL}/labels/candidate/metadata").json()

    assert {"serving_default", BYTES_SIGNATURE, uint8_signature} <= set(definitions)
    rest_definitions = rest["metadata"]["signature_def"]["signature_def"]
    assert set(definitions) == set(rest_definitions)
    for name, definition in rest_definitions.items():
        assert json_format.ParseDict(definition, meta_graph_pb2.SignatureDef()) == definitions[name]
    uint8_input = definitions[uint8_signature].inputs["images"]
    assert uint8_input.dtype == types_pb2.DT_UINT8
    assert [dim.size for dim in uint8_input.tensor_shape.dim] == [-1, *IMAGE_SHAPE]
    bytes_input = definitions[BYTES_SIGNATURE].inputs["image_bytes"]
    assert bytes_input.dtype == types_pb2.DT_STRING
    assert [dim.size for dim in bytes_input.tensor_shape.dim] == [-1]
    outputs = definitions[uint8_signature].outputs
    assert outputs["probabilities"].dtype == types_pb2.DT_FLOAT
    assert outputs["class_names"].dtype == types_pb2.DT_STRING
    assert definitions[uint8_signature].method_name == "tensorflow/serving/predict"


def test_status_reports_every_served_version_available(client: Client) -> None:
    assert client.status() == {1: "AVAILABLE", 2: "AVAILABLE"}
    assert client.status(version=2) == {2: "AVAILABLE"}
    assert client.status(label="production") == {1: "AVAILABLE"}


def uint8_tensor(shape: tuple[int, ...], dtype: Any = np.uint8) -> tensor_pb2.TensorProto:
    return tf.make_tensor_proto(np.zeros(shape, dtype))


def uint8_proto(shape: tuple[int, ...], **fields: Any) -> tensor_pb2.TensorProto:
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape]
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_UINT8, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims), **fields
    )


ONE = (1, *IMAGE_SHAPE)
# (id, build(uint8 signature name) -> (stub method, request), status code, words of the
# message). Predict requests on the uint8 signature unless the case says otherwise.
CASES: list[tuple[str, Callable[[str], tuple[str, Any]], grpc.StatusCode, str]] = [
    (
        "unknown-model",
        lambda sig: ("Predict", predict_request({"images": uint8_tensor(ONE)}, name="nope")),
        grpc.StatusCode.NOT_FOUND,
        "model 'nope' is not served",
    ),
    (
        "unknown-version",
        lambda sig: ("Predict", predict_request({"images": uint8_tensor(ONE)}, version=9)),
        grpc.StatusCode.NOT_FOUND,
        "version 9 is not available",
    ),
    (
        "unknown-label",
        lambda sig: ("Predict", predict_request({"images": uint8_tensor(ONE)}, label="staging")),
        grpc.StatusCode.NOT_FOUND,
        "no label 'staging'",
    ),
    (
        "unknown-signature",
        lambda sig: (
            "Predict",
            predict_request({"images": uint8_tensor(ONE)}, signature="serving_nope"),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "has no signature 'serving_nope'",
    ),
    (
        "wrong-dtype",
        lambda sig: (
            "Predict",
            predict_request({"images": uint8_tensor(ONE, np.float32)}, signature=sig),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'images' takes DT_UINT8 tensors; got DT_FLOAT",
    ),
    (
        "wrong-shape",
        lambda sig: (
            "Predict",
            predict_request({"images": uint8_tensor((1, 8, 8))}, signature=sig),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "takes shape [N, 8, 8, 1]; got [1, 8, 8]",
    ),
    (
        "empty-tensor",
        lambda sig: (
            "Predict",
            predict_request({"images": uint8_tensor((0, *IMAGE_SHAPE))}, signature=sig),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "input 'images' is empty",
    ),
    (
        "bad-tensor-content-length",
        lambda sig: (
            "Predict",
            predict_request({"images": uint8_proto(ONE, tensor_content=b"\0" * 63)}, signature=sig),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "63 bytes of tensor_content",
    ),
    (
        "too-few-listed-values",
        lambda sig: (
            "Predict",
            predict_request({"images": uint8_proto(ONE, int_val=[1, 2, 3])}, signature=sig),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "lists 3 values in int_val; its tensor_shape holds 64",
    ),
    (
        "uint8-out-of-range",
        lambda sig: (
            "Predict",
            predict_request({"images": uint8_proto(ONE, int_val=[300])}, signature=sig),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "takes DT_UINT8 values 0..255",
    ),
    (
        "unknown-rank",
        lambda sig: (
            "Predict",
            predict_request(
                {
                    "images": tensor_pb2.TensorProto(
                        dtype=types_pb2.DT_UINT8,
                        tensor_shape=tensor_shape_pb2.TensorShapeProto(unknown_rank=True),
                    )
                },
                signature=sig,
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "unknown rank",
    ),
    (
        "not-an-image",
        lambda sig: (
            "Predict",
            predict_request(
                {"image_bytes": tf.make_tensor_proto([b"these bytes are no image"])},
                signature=BYTES_SIGNATURE,
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "rejected the input",
    ),
    (
        "image-declaring-too-many-pixels",
        lambda sig: (
            "Predict",
            predict_request(
                {"image_bytes": tf.make_tensor_proto([png_header(20_000, 20_000)])},
                signature=BYTES_SIGNATURE,
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "--max-image-pixels",
    ),
    (
        "missing-inputs",
        lambda sig: ("Predict", predict_request({}, signature=sig)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "missing input(s) ['images']",
    ),
    (
        "unknown-input",
        lambda sig: ("Predict", predict_request({"pixels": uint8_tensor(ONE)}, signature=sig)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "unknown input(s) ['pixels']",
    ),
    (
        "wrong-input-for-the-default-signature",
        lambda sig: ("Predict", predict_request({"pixels": uint8_tensor(ONE)})),
        grpc.StatusCode.INVALID_ARGUMENT,
        "no signature_name was given, so 'serving_default' was used; this version's signatures:",
    ),
    (
        "unknown-output-filter",
        lambda sig: (
            "Predict",
            predict_pb2.PredictRequest(
                model_spec={"name": MODEL, "signature_name": sig},
                inputs={"images": uint8_tensor(ONE)},
                output_filter=["logits"],
            ),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "output_filter names ['logits']",
    ),
    (
        "message-too-large",
        lambda sig: ("Predict", predict_request({"images": uint8_tensor((1000, *IMAGE_SHAPE))})),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "larger than max",
    ),
    (
        "metadata-without-field",
        lambda sig: (
            "GetModelMetadata",
            get_model_metadata_pb2.GetModelMetadataRequest(model_spec={"name": MODEL}),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "names no metadata_field",
    ),
    (
        "metadata-of-unknown-model",
        lambda sig: (
            "GetModelMetadata",
            get_model_metadata_pb2.GetModelMetadataRequest(
                model_spec={"name": "nope"}, metadata_field=["signature_def"]
            ),
        ),
        grpc.StatusCode.NOT_FOUND,
        "model 'nope' is not served",
    ),
    (
        "status-of-unknown-version",
        lambda sig: (
            "GetModelStatus",
            get_model_status_pb2.GetModelStatusRequest(
                model_spec={"name": MODEL, "version": {"value": 7}}
            ),
        ),
        grpc.StatusCode.NOT_FOUND,
        "has no version 7",
    ),
    (
        "classify",
        lambda sig: (
            "Classify",
            classification_pb2.ClassificationRequest(model_spec={"name": MODEL}),
        ),
        grpc.StatusCode.UNIMPLEMENTED,
        "call Predict",
    ),
]


@pytest.mark.parametrize(
    ("build", "code", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_request_gets_a_status_code_and_a_message_naming_the_mistake(
    client: Client,
    uint8_signature: str,
    build: Callable[[str], tuple[str, Any]],
    code: grpc.StatusCode,
    words: str,
) -> None:
    method, request = build(uint8_signature)
    stub = client.models if method == "GetModelStatus" else client.prediction

    with pytest.raises(grpc.RpcError) as raised:
        getattr(stub, method)(request, timeout=TIMEOUT)

    assert raised.value.code() == code, raised.value.details()
    assert words in raised.value.details()


def test_after_bad_requests_the_server_is_healthy_and_answers(
    server: Server, client: Client, uint8_signature: str, model_outputs
) -> None:
    batch = images(2, seed=7)

    response = client.predict(
        predict_request({"images": tf.make_tensor_proto(batch)}, signature=uint8_signature)
    )

    assert_answers(outputs_of(response), model_outputs(1, batch))
    assert server.get("/healthz").status == 200
    assert server.process.poll() is None
    assert "Traceback" not in server.log


def test_grpc_calls_are_counted_in_the_metrics_by_outcome(server: Server) -> None:
    text = server.get("/metrics").body.decode()

    counter = "visionops_serving_requests_total"
    assert (
        f'{counter}{{model="digits",version="1",method="predict",code="200",protocol="grpc"}}'
        in text
    )
    assert (
        f'{counter}{{model="digits",version="1",method="metadata",code="200",protocol="grpc"}}'
        in text
    )
    assert (
        f'{counter}{{model="digits",version="",method="predict",code="400",protocol="grpc"}}'
        in text
    )
    assert 'code="404",protocol="grpc"' in text
    assert 'code="500"' not in text
    assert 'method="predict",protocol="grpc",le="0.1"' in text


def batch_calls(server: Server) -> int:
    """How many TensorFlow calls the digits model has had so far."""
    text = server.get("/metrics").body.decode()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith('visionops_serving_batch_size_count{model="digits"')
    )


def test_concurrent_grpc_and_rest_calls_share_batches_and_get_their_own_answers(
    server: Server, client: Client, uint8_signature: str, model_outputs
) -> None:
    batches = [images(1 + index % 2, seed=200 + index) for index in range(32)]
    expected = [model_outputs(1, batch)["probabilities"] for batch in batches]
    calls_before = batch_calls(server)

    def send(index: int) -> np.ndarray:
        batch = batches[index]
        if index % 2:
            document = {"signature_name": uint8_signature, "instances": batch.tolist()}
            reply = server.post(f"/v1/models/{MODEL}:predict", document)
            assert reply.status == 200, reply.body
            return np.array([row["probabilities"] for row in reply.json()["predictions"]])
        request = predict_request(
            {"images": tf.make_tensor_proto(batch)}, signature=uint8_signature
        )
        return outputs_of(client.predict(request))["probabilities"]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, range(len(batches))))

    for got, want in zip(answers, expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert batch_calls(server) - calls_before < len(batches), "no two calls were merged"


def test_a_moved_label_is_followed_by_grpc_calls_without_a_failure(
    registry: Path, client: Client, uint8_signature: str, model_outputs
) -> None:
    probe = images(1, seed=42)
    fingerprints = {v: model_outputs(v, probe)["probabilities"][0] for v in (1, 2)}
    request = predict_request({"images": tf.make_tensor_proto(probe)}, signature=uint8_signature)
    answers: list[object] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                response = client.predict(request)
            except grpc.RpcError as error:
                answers.append(f"{error.code()}: {error.details()}")
                continue
            version = response.model_spec.version.value
            got = outputs_of(response)["probabilities"][0]
            answers.append(version if np.allclose(got, fingerprints[version], atol=1e-5) else got)

    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(answers) < 10:
            assert time.monotonic() < deadline, answers
            time.sleep(0.02)
        write_models_config(registry, {MODEL: {"production": 2}})
        while answers[-10:].count(2) < 10:
            assert time.monotonic() < deadline + 30, answers[-20:]
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(30)

    assert [answer for answer in answers if answer not in (1, 2)] == []
    switched = answers.index(2)
    assert set(answers[:switched]) == {1} and set(answers[switched:]) == {2}
    deadline = time.monotonic() + 30
    while client.status() != {1: "END", 2: "AVAILABLE"}:
        assert time.monotonic() < deadline, client.status()
        time.sleep(0.1)


def test_sigterm_stops_grpc_with_the_http_server(server: Server) -> None:
    status = server.stop()

    assert status == 0
    assert "Traceback" not in server.log
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.grpc_port)) != 0, "gRPC still listens"


def test_a_taken_grpc_port_is_one_line_of_error(registry: Path) -> None:
    port, grpc_port = free_ports(2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", grpc_port))
        taken.listen()
        result = serve(
            "--registry", str(registry), "--port", str(port), "--grpc-port", str(grpc_port)
        )

    assert result.returncode == 1
    assert f"visionops: error: cannot listen for gRPC on 127.0.0.1:{grpc_port}" in result.stderr
    assert "--grpc-port 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_grpc_port_must_differ_from_the_rest_port(registry: Path) -> None:
    result = serve("--registry", str(registry), "--port", "9100", "--grpc-port", "9100")

    assert result.returncode == 1
    assert "--grpc-port and --port are both 9100" in result.stderr


def test_grpc_port_0_serves_rest_only(registry: Path, start_server) -> None:
    server = start_server(registry, "--grpc-port", "0")

    assert server.get("/healthz").status == 200
    assert "gRPC API off" in server.log
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.grpc_port)) != 0
