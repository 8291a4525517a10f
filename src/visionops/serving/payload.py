"""Predict request bodies in TF Serving's REST format: parsed and checked against a signature.

A body is a JSON object with ``instances`` (row format: one entry per example, either
the value of the single input or an object ``{input name: value}``) or ``inputs``
(columnar format: the value of the single input with the batch first, or an object
``{input name: value}``), and optionally ``signature_name``. Binary values are written
``{"b64": "<base64>"}``. Every value is checked against the signature's dtype and shape
here, before TensorFlow sees it, so a client's mistake is answered 400 with a message
that names it, never 500.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from visionops.serving.errors import BadRequestError
from visionops.serving.signatures import Signature, TensorInfo

BODY_KEYS = ("signature_name", "instances", "inputs")
_BODY_KEY_SET = frozenset(BODY_KEYS)


@dataclass(frozen=True)
class PredictRequest:
    """A parsed predict body, not yet checked against a signature.

    Attributes:
        signature_name: The signature asked for; empty for the default.
        row_format: True for ``instances``, False for ``inputs``.
        payload: The value of ``instances`` or ``inputs``.
        may_hold_booleans: Whether the body has a ``true`` or ``false`` anywhere; only
            then are numeric values searched for booleans (numpy reads them as 0 and 1).
    """

    signature_name: str
    row_format: bool
    payload: Any
    may_hold_booleans: bool = False


def parse_predict_body(body: bytes) -> PredictRequest:
    """Parses a predict body and checks its top-level keys.

    Raises:
        BadRequestError: The body is not a JSON object with exactly one of ``instances``
            and ``inputs``, or ``signature_name`` is not a string.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson is strict JSON and several times faster; the json module also reads
        # NaN, Infinity and integers beyond 64 bits (which then get a message naming
        # the input), and words its errors for people.
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as error:
            raise BadRequestError(f"the request body is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise BadRequestError(
            "the request body must be a JSON object with 'instances' (row format) or "
            f"'inputs' (columnar format); got a JSON {type(document).__name__}"
        )
    unknown = sorted(document.keys() - _BODY_KEY_SET)
    if unknown:
        raise BadRequestError(f"unknown key(s) {unknown} in the request body; allowed: {BODY_KEYS}")
    if "instances" in document and "inputs" in document:
        raise BadRequestError("the request body has both 'instances' and 'inputs'; send only one")
    if "instances" not in document and "inputs" not in document:
        raise BadRequestError("the request body has neither 'instances' nor 'inputs'; send one")
    signature_name = document.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise BadRequestError(f"'signature_name' must be a string; got {signature_name!r}")
    row_format = "instances" in document
    return PredictRequest(
        signature_name,
        row_format,
        document["instances" if row_format else "inputs"],
        b"true" in body or b"false" in body,
    )


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _is_named(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _check_input_names(names: set[str], signature: Signature, where: str) -> None:
    expected = set(signature.inputs)
    if names != expected:
        unknown, missing = sorted(names - expected), sorted(expected - names)
        problem = f"unknown input(s) {unknown}" if unknown else f"missing input(s) {missing}"
        raise BadRequestError(
            f"{problem} in {where}; signature {signature.name!r} takes {sorted(expected)}"
        )


def _single_input(signature: Signature) -> str:
    if len(signature.inputs) != 1:
        raise BadRequestError(
            f"signature {signature.name!r} takes several inputs {sorted(signature.inputs)}; "
            "name each one in an object"
        )
    return next(iter(signature.inputs))


def _columns(request: PredictRequest, signature: Signature) -> dict[str, Any]:
    payload = request.payload
    if not request.row_format:
        if _is_named(payload):
            _check_input_names(set(payload), signature, "'inputs'")
            return dict(payload)
        return {_single_input(signature): payload}
    if not isinstance(payload, list):
        raise BadRequestError(f"'instances' must be a list; got a JSON {type(payload).__name__}")
    if not payload:
        raise BadRequestError("'instances' is empty; send at least one instance")
    named = [_is_named(instance) for instance in payload]
    if not any(named):
        return {_single_input(signature): payload}
    if not all(named):
        raise BadRequestError("either every instance is an object of named inputs, or none is")
    for index, instance in enumerate(payload):
        _check_input_names(set(instance), signature, f"instance {index}")
    return {key: [instance[key] for instance in payload] for key in signature.inputs}


def _shape_of(value: Any, depth: int = 0) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    shapes = {_shape_of(item, depth + 1) for item in value}
    if len(shapes) != 1:
        raise BadRequestError(f"ragged array: the lists at depth {depth + 1} differ in length")
    return (len(value), *shapes.pop())


def _decode_binary(value: Any, info: TensorInfo) -> bytes:
    if _is_b64(value) and isinstance(value["b64"], str):
        try:
            return binascii.a2b_base64(value["b64"], strict_mode=True)
        except (binascii.Error, ValueError) as error:
            raise BadRequestError(
                f"input {info.key!r} has a value that is not base64: {error}"
            ) from error
    if isinstance(value, str) and not info.is_binary:
        return value.encode()
    raise BadRequestError(
        f'input {info.key!r} takes binary data; send each value as {{"b64": "<base64>"}}'
    )


def _flatten(value: Any) -> list[Any]:
    if not isinstance(value, list):
        return [value]
    return [leaf for item in value for leaf in _flatten(item)]


def _string_array(value: Any, info: TensorInfo) -> np.ndarray:
    if isinstance(value, list) and not any(isinstance(item, list) for item in value):
        shape, leaves = (len(value),), value  # the usual case: one value per example
    else:
        shape, leaves = _shape_of(value), _flatten(value)
    array = np.empty(len(leaves), dtype=object)
    array[:] = [_decode_binary(leaf, info) for leaf in leaves]
    return array.reshape(shape)


def _holds_boolean(value: Any) -> bool:
    if isinstance(value, list):
        return any(_holds_boolean(item) for item in value)
    return isinstance(value, bool)


def _numeric_array(value: Any, info: TensorInfo, may_hold_booleans: bool) -> np.ndarray:
    target = np.dtype(info.dtype.as_numpy_dtype)
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as error:
        raise BadRequestError(f"input {info.key!r} is a ragged array: {error}") from error
    if array.size == 0:
        raise BadRequestError(f"input {info.key!r} has no values; send at least one example")
    if array.dtype.kind in "USO":
        raise BadRequestError(
            f"input {info.key!r} takes {target.name} numbers; got strings, objects or nulls"
        )
    allowed = {"u": "iu", "i": "iu", "f": "iuf", "b": "b"}.get(target.kind, "iufb")
    kind = array.dtype.kind
    if kind in "iuf" and may_hold_booleans and _holds_boolean(value):
        kind = "b"
    if kind not in allowed:
        kind = {"f": "floating-point numbers", "b": "booleans"}.get(kind, "numbers")
        raise BadRequestError(f"input {info.key!r} takes {target.name} values; got {kind}")
    if target.kind in "iu":
        limits = np.iinfo(target)
        low, high = int(array.min()), int(array.max())
        if low < limits.min or high > limits.max:
            raise BadRequestError(
                f"input {info.key!r} takes {target.name} values {limits.min}..{limits.max}; "
                f"got values from {low} to {high}"
            )
    return array.astype(target, copy=False)


def _check_shape(array: np.ndarray, info: TensorInfo, row_format: bool) -> None:
    if info.shape is None:
        return
    if not info.fits(array.shape):
        hint = " (in row format, one instance per example)" if row_format else ""
        raise BadRequestError(
            f"input {info.key!r} takes shape {info.describe_shape()}{hint}; "
            f"got [{', '.join(map(str, array.shape))}]"
        )
    if array.ndim and array.shape[0] == 0:
        raise BadRequestError(f"input {info.key!r} is empty; send at least one example")


def request_arrays(request: PredictRequest, signature: Signature) -> tuple[dict[str, Any], int]:
    """The request's inputs as numpy arrays that fit ``signature``, and the batch size.

    Raises:
        BadRequestError: An input is missing, unknown, ragged, of the wrong dtype or shape,
            out of range, or not valid base64.
    """
    arrays = {}
    for key, value in _columns(request, signature).items():
        info = signature.inputs[key]
        if info.is_string:
            array = _string_array(value, info)
        else:
            array = _numeric_array(value, info, request.may_hold_booleans)
        _check_shape(array, info, request.row_format)
        arrays[key] = array
    sizes = {array.shape[0] if array.ndim else 1 for array in arrays.values()}
    if len(sizes) != 1:
        raise BadRequestError(f"inputs differ in batch size: {sorted(sizes)}")
    return arrays, sizes.pop()
