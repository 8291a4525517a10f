"""Predict inputs and outputs in TF Serving's gRPC format: TensorProto messages to and from numpy.

An input tensor holds its values either packed in ``tensor_content`` (little-endian,
row-major, as ``tf.make_tensor_proto`` writes numeric arrays) or listed in the
``*_val`` field of its dtype (``string_val`` for strings, such as encoded images). Every
input is checked against the signature's dtype and shape here, before TensorFlow sees
it, so that a client's mistake is answered INVALID_ARGUMENT with a message naming it.
Outputs are sent with ``tensor_content`` (strings in ``string_val``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from visionops.serving.errors import BadRequestError, ServingError
from visionops.serving.signatures import Signature, TensorInfo

# dtype -> (numpy dtype, the TensorProto field that lists values one by one). TensorFlow
# writes DT_UINT8, DT_INT8, DT_INT16 and DT_UINT16 values in int_val.
NUMERIC_DTYPES: dict[int, tuple[np.dtype, str]] = {
    types_pb2.DT_FLOAT: (np.dtype("<f4"), "float_val"),
    types_pb2.DT_DOUBLE: (np.dtype("<f8"), "double_val"),
    types_pb2.DT_INT32: (np.dtype("<i4"), "int_val"),
    types_pb2.DT_UINT8: (np.dtype("u1"), "int_val"),
    types_pb2.DT_INT16: (np.dtype("<i2"), "int_val"),
    types_pb2.DT_INT8: (np.dtype("i1"), "int_val"),
    types_pb2.DT_UINT16: (np.dtype("<u2"), "int_val"),
    types_pb2.DT_INT64: (np.dtype("<i8"), "int64_val"),
    types_pb2.DT_UINT32: (np.dtype("<u4"), "uint32_val"),
    types_pb2.DT_UINT64: (np.dtype("<u8"), "uint64_val"),
    types_pb2.DT_BOOL: (np.dtype("?"), "bool_val"),
}
_DTYPE_OF_NUMPY = {
    (numpy_dtype.kind, numpy_dtype.itemsize): dtype
    for dtype, (numpy_dtype, _) in NUMERIC_DTYPES.items()
}


def dtype_name(dtype: int) -> str:
    """The name of a DataType enum value, e.g. ``DT_UINT8``; the number if it has none."""
    try:
        return types_pb2.DataType.Name(dtype)
    except ValueError:
        return str(dtype)


def _shape(proto: tensor_pb2.TensorProto, key: str) -> tuple[int, ...]:
    if proto.tensor_shape.unknown_rank:
        raise BadRequestError(f"input {key!r} has an unknown rank; give its tensor_shape")
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise BadRequestError(
            f"input {key!r} has shape {list(shape)}; every dimension must be known (>= 0)"
        )
    return shape


def _check_fits(key: str, shape: tuple[int, ...], info: TensorInfo) -> None:
    if not info.fits(shape):
        raise BadRequestError(
            f"input {key!r} takes shape {info.describe_shape()}; got [{', '.join(map(str, shape))}]"
        )
    if math.prod(shape) == 0:
        raise BadRequestError(
            f"input {key!r} is empty (shape [{', '.join(map(str, shape))}]); "
            "send at least one example"
        )


def _listed(values: Any, count: int, key: str, field: str) -> list[Any]:
    # TensorFlow also reads a single listed value as "every element has this value".
    if len(values) == count or len(values) == 1:
        return list(values) if len(values) == count else list(values) * count
    raise BadRequestError(
        f"input {key!r} lists {len(values)} values in {field}; its tensor_shape holds {count}"
    )


def _string_array(proto: tensor_pb2.TensorProto, key: str, shape: tuple[int, ...]) -> np.ndarray:
    if proto.tensor_content:
        raise BadRequestError(f"input {key!r} is a DT_STRING tensor; list its values in string_val")
    array = np.empty(math.prod(shape), dtype=object)
    array[:] = _listed(proto.string_val, array.size, key, "string_val")
    return array.reshape(shape)


def _numeric_array(proto: tensor_pb2.TensorProto, key: str, shape: tuple[int, ...]) -> np.ndarray:
    numpy_dtype, field = NUMERIC_DTYPES[proto.dtype]
    count = math.prod(shape)
    content = proto.tensor_content
    if content:
        if len(content) != count * numpy_dtype.itemsize:
            raise BadRequestError(
                f"input {key!r} has {len(content)} bytes of tensor_content; its tensor_shape "
                f"[{', '.join(map(str, shape))}] of {dtype_name(proto.dtype)} needs "
                f"{count * numpy_dtype.itemsize}"
            )
        return np.frombuffer(content, dtype=numpy_dtype).reshape(shape)
    values = _listed(getattr(proto, field), count, key, field)
    if numpy_dtype.kind in "iu" and field == "int_val" and numpy_dtype.itemsize < 4:
        limits = np.iinfo(numpy_dtype)
        low, high = min(values), max(values)
        if low < limits.min or high > limits.max:
            raise BadRequestError(
                f"input {key!r} takes {dtype_name(proto.dtype)} values {limits.min}..{limits.max}; "
                f"got values from {low} to {high}"
            )
    return np.array(values, dtype=numpy_dtype).reshape(shape)


def _input_array(key: str, proto: tensor_pb2.TensorProto, info: TensorInfo) -> np.ndarray:
    expected = info.dtype.as_datatype_enum
    if proto.dtype != expected:
        raise BadRequestError(
            f"input {key!r} takes {dtype_name(expected)} tensors; got {dtype_name(proto.dtype)}"
        )
    shape = _shape(proto, key)
    _check_fits(key, shape, info)
    if proto.dtype == types_pb2.DT_STRING:
        return _string_array(proto, key, shape)
    if proto.dtype not in NUMERIC_DTYPES:
        readable = sorted(dtype_name(dtype) for dtype in (*NUMERIC_DTYPES, types_pb2.DT_STRING))
        raise BadRequestError(
            f"input {key!r} is {dtype_name(expected)}, which this server does not read from "
            f"a TensorProto; it reads {readable}"
        )
    return _numeric_array(proto, key, shape)


def request_arrays(
    inputs: Mapping[str, tensor_pb2.TensorProto], signature: Signature
) -> tuple[dict[str, np.ndarray], int]:
    """A PredictRequest's inputs as numpy arrays that fit ``signature``, and the batch size.

    Raises:
        BadRequestError: An input is missing or unknown, or its dtype, shape or values do
            not fit the signature (wrong dtype, unknown or wrong shape, no examples,
            ``tensor_content`` of the wrong length, too many or too few listed values).
    """
    expected = set(signature.inputs)
    unknown, missing = sorted(set(inputs) - expected), sorted(expected - set(inputs))
    if unknown or missing:
        problem = f"unknown input(s) {unknown}" if unknown else f"missing input(s) {missing}"
        raise BadRequestError(
            f"{problem} in the request's inputs; signature {signature.name!r} takes "
            f"{sorted(expected)}"
        )
    arrays = {key: _input_array(key, inputs[key], signature.inputs[key]) for key in expected}
    sizes = {array.shape[0] if array.ndim else 1 for array in arrays.values()}
    if len(sizes) != 1:
        raise BadRequestError(f"inputs differ in batch size: {sorted(sizes)}")
    return arrays, sizes.pop()


def output_proto(key: str, array: np.ndarray) -> tensor_pb2.TensorProto:
    """One output as a TensorProto: numbers in ``tensor_content``, strings in ``string_val``.

    Raises:
        ServingError: The output's dtype has no TensorProto form here.
    """
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in array.shape]
    )
    if array.dtype.kind in "OSa":
        proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=shape)
        proto.string_val.extend(array.reshape(-1).tolist())
        return proto
    dtype = _DTYPE_OF_NUMPY.get((array.dtype.kind, array.dtype.itemsize))
    if dtype is None:
        raise ServingError(f"output {key!r} is {array.dtype}, which this server cannot send")
    content = np.ascontiguousarray(array, dtype=NUMERIC_DTYPES[dtype][0]).tobytes()
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, tensor_content=content)
