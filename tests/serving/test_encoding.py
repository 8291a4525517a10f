"""Response bodies for signatures unlike the project's own: one output, binary outputs."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from visionops.serving.encoding import encode_outputs
from visionops.serving.signatures import Signature, TensorInfo


def signature(**outputs: tf.DType) -> Signature:
    infos = {key: TensorInfo(key, dtype, (None,), f"{key}:0") for key, dtype in outputs.items()}
    return Signature("serving_default", {}, infos, function=lambda **_: {})


def test_a_single_output_gives_bare_values_in_both_formats() -> None:
    only = signature(scores=tf.float32)
    outputs = {"scores": np.array([0.5, 0.25], np.float32)}

    assert encode_outputs(outputs, only, row_format=True) == {"predictions": [0.5, 0.25]}
    assert encode_outputs(outputs, only, row_format=False) == {"outputs": [0.5, 0.25]}


def test_binary_outputs_and_non_utf8_strings_are_sent_as_b64() -> None:
    both = signature(label=tf.string, thumbnail_bytes=tf.string)
    outputs = {
        "label": np.array([b"cat", b"\xff\xfe"], dtype=object),
        "thumbnail_bytes": np.array([b"PNG", b"GIF"], dtype=object),
    }

    body = encode_outputs(outputs, both, row_format=True)

    assert body == {
        "predictions": [
            {"label": "cat", "thumbnail_bytes": {"b64": "UE5H"}},
            {"label": {"b64": "//4="}, "thumbnail_bytes": {"b64": "R0lG"}},
        ]
    }
