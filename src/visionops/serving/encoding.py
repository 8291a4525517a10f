"""Predict responses in TF Serving's REST format: ``predictions`` or ``outputs``."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np

from visionops.serving.signatures import Signature, TensorInfo


def _encode_strings(value: Any, binary: bool) -> Any:
    if isinstance(value, list):
        return [_encode_strings(item, binary) for item in value]
    if not binary:
        try:
            return value.decode()
        except UnicodeDecodeError:
            pass  # not text: send it as binary
    return {"b64": base64.b64encode(value).decode()}


def _jsonable(array: np.ndarray, info: TensorInfo | None) -> Any:
    if array.dtype.kind != "O":
        return array.tolist()
    return _encode_strings(array.tolist(), info is not None and info.is_binary)


def encode_outputs(
    outputs: Mapping[str, np.ndarray], signature: Signature, row_format: bool
) -> dict[str, Any]:
    """The response body: ``{"predictions": [...]}`` or ``{"outputs": ...}``.

    Outputs appear in name order. As in TF Serving, a signature with a single output
    gives bare values rather than objects keyed by output name. Strings are sent as
    text, or as ``{"b64": ...}`` when the output's name ends in ``_bytes`` or the
    bytes are not UTF-8.
    """
    values = {key: _jsonable(outputs[key], signature.outputs.get(key)) for key in sorted(outputs)}
    if not row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    count = len(next(iter(values.values())))
    return {
        "predictions": [{key: column[i] for key, column in values.items()} for i in range(count)]
    }
