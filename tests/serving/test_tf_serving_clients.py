"""Clients written for TensorFlow Serving work unchanged, and the SavedModel decides what they get.

TF Serving's REST example client, in its JPEG mode, posts
``{"instances" : [{"b64": "<JPEG>"}]}`` to ``/v1/models/NAME:predict`` without a
signature name. Both ``visionops serve`` and TF Serving itself (emulated here the way it
runs a SavedModel: a session fed the tensors its SignatureDef names) must answer it with
the right digits; the metadata must be the SavedModel's own signatures, and a version
exported in the earlier layout must still answer as it did.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

from visionops.registry.layout import version_dir, write_models_config
from visionops.registry.signature_names import (
    BYTES_INPUT,
    BYTES_SIGNATURE,
    DEFAULT_SIGNATURE,
    EXPORTED_SIGNATURES,
    UINT8_INPUT,
    UINT8_SIGNATURE,
)

from .support import MODEL, Server, encoded, images, png_b64, png_request, uint8_request

CLASSIFIER = "classifier"
INIT_OP_SIGNATURE = "__saved_model_init_op"


def example_client_body(image_file: bytes) -> bytes:
    """The body TF Serving's example REST client sends in its JPEG mode, built as it does."""
    jpeg_bytes = base64.b64encode(image_file).decode("utf-8")
    return ('{"instances" : [{"b64": "%s"}]}' % jpeg_bytes).encode()  # noqa: UP031


def signature_defs(version: Path) -> dict:
    """The SignatureDefs in ``saved_model.pb`` that a client can call: what TF Serving
    reads, less the entry that holds the SavedModel's initialisation op."""
    saved_model = saved_model_pb2.SavedModel.FromString((version / "saved_model.pb").read_bytes())
    (meta_graph,) = saved_model.meta_graphs
    return {
        name: definition
        for name, definition in meta_graph.signature_def.items()
        if name != INIT_OP_SIGNATURE
    }


def tf_serving_predict(version: Path, signature_name: str, inputs: dict) -> dict:
    """A Predict as TF Serving runs it: the signature named (``serving_default`` when
    empty) looked up in the SignatureDefs, each input checked against its dtype, the
    graph run on the tensors the SignatureDef names."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(version))
        signature = meta_graph.signature_def[signature_name or DEFAULT_SIGNATURE]
        assert set(inputs) == set(signature.inputs)
        feed = {}
        for key, value in inputs.items():
            proto = tf.make_tensor_proto(value)
            if proto.dtype != signature.inputs[key].dtype:
                raise TypeError(f"{key}: {proto.dtype} given, the signature takes another dtype")
            feed[signature.inputs[key].name] = value
        fetches = {key: info.name for key, info in signature.outputs.items()}
        return session.run(fetches, feed_dict=feed)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, trained_digits, start_server) -> Server:
    """The trained digits model as version 1 of ``classifier``."""
    root = tmp_path_factory.mktemp("registry")
    shutil.copytree(trained_digits.path, version_dir(root, CLASSIFIER, 1))
    write_models_config(root, {CLASSIFIER: {"production": 1}})
    return start_server(root)


@pytest.mark.parametrize("image_format", ["JPEG", "PNG"])
def test_tf_serving_example_body_gets_the_right_digits(
    classifier: Server, trained_digits, image_format: str
) -> None:
    files = [encoded(image, image_format) for image in trained_digits.images]

    replies = [
        classifier.request(
            "POST", f"/v1/models/{CLASSIFIER}:predict", example_client_body(image_file)
        )
        for image_file in files
    ]

    assert [reply.status for reply in replies] == [200] * len(files)
    predicted = np.array([reply.json()["predictions"][0]["class_ids"] for reply in replies])
    assert (predicted == trained_digits.labels).mean() >= 0.95
    # TF Serving, running the SavedModel's default SignatureDef, gives the same answers.
    expected = tf_serving_predict(trained_digits.path, "", {BYTES_INPUT: np.array(files)})
    probabilities = [reply.json()["predictions"][0]["probabilities"] for reply in replies]
    np.testing.assert_allclose(probabilities, expected["probabilities"], atol=1e-5)
    names = [reply.json()["predictions"][0]["class_names"] for reply in replies]
    assert names == [name.decode() for name in expected["class_names"]]


def test_uint8_arrays_are_answered_by_serving_uint8(classifier: Server, trained_digits) -> None:
    batch = trained_digits.images[:10]

    rows = classifier.post(f"/v1/models/{CLASSIFIER}:predict", uint8_request(batch))
    columns = classifier.post(
        f"/v1/models/{CLASSIFIER}:predict",
        {"signature_name": UINT8_SIGNATURE, "inputs": {UINT8_INPUT: batch.tolist()}},
    )

    assert rows.status == columns.status == 200
    expected = tf_serving_predict(trained_digits.path, UINT8_SIGNATURE, {UINT8_INPUT: batch})
    by_rows = [row["class_ids"] for row in rows.json()["predictions"]]
    assert by_rows == columns.json()["outputs"]["class_ids"] == expected["class_ids"].tolist()
    assert (np.array(by_rows) == trained_digits.labels[:10]).mean() >= 0.9


def test_uint8_arrays_without_a_signature_name_are_told_where_to_go(
    classifier: Server, trained_digits
) -> None:
    batch = trained_digits.images[:1]

    reply = classifier.post(f"/v1/models/{CLASSIFIER}:predict", {"instances": batch.tolist()})

    # TF Serving refuses them too: the default signature takes strings.
    with pytest.raises(TypeError, match="the signature takes another dtype"):
        tf_serving_predict(trained_digits.path, "", {BYTES_INPUT: batch})
    assert reply.status == 400
    error = reply.json()["error"]
    assert f"input {BYTES_INPUT!r} takes binary data" in error
    assert f"no signature_name was given, so {DEFAULT_SIGNATURE!r} was used" in error
    assert f"{UINT8_SIGNATURE} takes {UINT8_INPUT!r} uint8 [N, 8, 8, 1]" in error


def on_disk_signatures(version: Path) -> dict[str, dict]:
    """Each SignatureDef of ``saved_model.pb``: method, and dtype and dims of each tensor."""

    def tensors(infos) -> dict:
        return {
            key: (types_pb2.DataType.Name(info.dtype), [dim.size for dim in info.tensor_shape.dim])
            for key, info in infos.items()
        }

    return {
        name: {
            "inputs": tensors(definition.inputs),
            "outputs": tensors(definition.outputs),
            "method_name": definition.method_name,
        }
        for name, definition in signature_defs(version).items()
    }


def served_signatures(server: Server, path: str) -> dict[str, dict]:
    """The same, read from the metadata endpoint's JSON."""

    def tensors(infos: dict) -> dict:
        return {
            key: (info["dtype"], [int(dim["size"]) for dim in info["tensor_shape"]["dim"]])
            for key, info in infos.items()
        }

    reply = server.get(path)
    assert reply.status == 200, reply.body
    return {
        name: {
            "inputs": tensors(definition["inputs"]),
            "outputs": tensors(definition["outputs"]),
            "method_name": definition["method_name"],
        }
        for name, definition in reply.json()["metadata"]["signature_def"]["signature_def"].items()
    }


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, legacy_version, saved_versions, start_server) -> Server:
    """Version 1 exported in the earlier layout (production), version 2 in this one."""
    root = tmp_path_factory.mktemp("registry")
    shutil.copytree(legacy_version, version_dir(root, MODEL, 1))
    shutil.copytree(saved_versions[2], version_dir(root, MODEL, 2))
    write_models_config(root, {MODEL: {"production": 1, "candidate": 2}})
    return start_server(root)


@pytest.mark.parametrize("version", [1, 2])
def test_metadata_lists_exactly_the_signatures_of_the_saved_model(
    mixed: Server, version: int
) -> None:
    on_disk = on_disk_signatures(version_dir(mixed.registry, MODEL, version))

    served = served_signatures(mixed, f"/v1/models/{MODEL}/versions/{version}/metadata")

    assert served == on_disk
    if version == 2:
        assert set(served) == set(EXPORTED_SIGNATURES)
        assert served[DEFAULT_SIGNATURE] == served[BYTES_SIGNATURE]
        assert served[DEFAULT_SIGNATURE]["inputs"] == {BYTES_INPUT: ("DT_STRING", [-1])}
        assert served[UINT8_SIGNATURE]["inputs"] == {UINT8_INPUT: ("DT_UINT8", [-1, 8, 8, 1])}
    else:
        assert set(served) == {DEFAULT_SIGNATURE, BYTES_SIGNATURE}
        assert served[DEFAULT_SIGNATURE]["inputs"] == {UINT8_INPUT: ("DT_UINT8", [-1, 8, 8, 1])}


def test_a_version_exported_before_still_answers_as_it_did(mixed: Server, reference) -> None:
    batch = images(3, seed=21)
    expected = reference(1, batch)["probabilities"]  # the same weights as version 1
    named_bytes = {"signature_name": BYTES_SIGNATURE, **png_request(batch)}

    old_default = mixed.post(f"/v1/models/{MODEL}:predict", {"instances": batch.tolist()})
    old_bytes = mixed.post(f"/v1/models/{MODEL}:predict", named_bytes)
    new_bytes = mixed.post(f"/v1/models/{MODEL}/labels/candidate:predict", named_bytes)
    new_default = mixed.post(f"/v1/models/{MODEL}/labels/candidate:predict", png_request(batch))

    for reply in (old_default, old_bytes, new_bytes, new_default):
        assert reply.status == 200, reply.body
    for reply in (old_default, old_bytes):
        got = [row["probabilities"] for row in reply.json()["predictions"]]
        np.testing.assert_allclose(got, expected, atol=1e-6)
    candidate = reference(2, batch)["probabilities"]
    for reply in (new_bytes, new_default):
        got = [row["probabilities"] for row in reply.json()["predictions"]]
        np.testing.assert_allclose(got, candidate, atol=1e-6)
    assert (
        mixed.get(f"/v1/models/{MODEL}/versions/1").json()["model_version_status"][0]["state"]
        == "AVAILABLE"
    )


def test_a_b64_image_to_a_version_exported_before_names_its_signatures(mixed: Server) -> None:
    reply = mixed.post(
        f"/v1/models/{MODEL}:predict", {"instances": [{"b64": png_b64(images(1)[0])}]}
    )

    assert reply.status == 400
    error = reply.json()["error"]
    assert f"input {UINT8_INPUT!r} takes uint8" in error
    assert f"{BYTES_SIGNATURE} takes {BYTES_INPUT!r} string [N]" in error
