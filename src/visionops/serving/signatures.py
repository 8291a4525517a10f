"""The signatures of a loaded SavedModel: what each takes and returns, and their metadata JSON."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

PREDICT_METHOD = "tensorflow/serving/predict"
# TF Serving's REST convention: a string tensor whose name ends so holds binary data,
# sent and returned as {"b64": ...}.
BINARY_SUFFIX = "_bytes"


@dataclass(frozen=True)
class TensorInfo:
    """One named input or output of a signature.

    Attributes:
        key: The name clients use, e.g. ``images``.
        dtype: The tensor's element type.
        shape: Dimensions, ``None`` where any size goes (the batch); ``None`` if the rank
            itself is unknown.
        tensor_name: The graph tensor behind it, as TF Serving's metadata reports it.
    """

    key: str
    dtype: tf.DType
    shape: tuple[int | None, ...] | None
    tensor_name: str

    # Cached: comparing tf.DType objects is slow Python, and these are asked per request.
    @cached_property
    def is_string(self) -> bool:
        """Whether the tensor holds strings (bytes)."""
        return self.dtype == tf.string

    @cached_property
    def is_binary(self) -> bool:
        """Whether values travel as ``{"b64": ...}`` (a string tensor named ``*_bytes``)."""
        return self.is_string and self.key.endswith(BINARY_SUFFIX)

    def fits(self, shape: tuple[int, ...]) -> bool:
        """Whether a tensor of ``shape`` fits: the same rank, and every fixed dimension equal."""
        if self.shape is None:
            return True
        return len(shape) == len(self.shape) and all(
            expected is None or expected == actual
            for expected, actual in zip(self.shape, shape, strict=True)
        )

    def describe_shape(self) -> str:
        """The shape in words for error messages, e.g. ``[N, 8, 8, 1]``."""
        if self.shape is None:
            return "any shape"
        return "[" + ", ".join("N" if dim is None else str(dim) for dim in self.shape) + "]"

    def to_json(self) -> dict[str, Any]:
        """The TensorInfo message as TF Serving's metadata endpoint prints it."""
        if self.shape is None:
            tensor_shape: dict[str, Any] = {"dim": [], "unknown_rank": True}
        else:
            dims = [{"size": str(-1 if dim is None else dim), "name": ""} for dim in self.shape]
            tensor_shape = {"dim": dims, "unknown_rank": False}
        return {
            "dtype": types_pb2.DataType.Name(self.dtype.as_datatype_enum),
            "tensor_shape": tensor_shape,
            "name": self.tensor_name,
        }


@dataclass(frozen=True)
class Signature:
    """A callable signature of a SavedModel with its inputs and outputs.

    Attributes:
        name: The signature's key, e.g. ``serving_default``.
        inputs: Its inputs by key.
        outputs: Its outputs by key.
        function: The loaded concrete function; takes the inputs as keyword tensors.
    """

    name: str
    inputs: Mapping[str, TensorInfo]
    outputs: Mapping[str, TensorInfo]
    function: Callable[..., Mapping[str, tf.Tensor]]

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs the signature on one batch of validated inputs; returns numpy outputs."""
        tensors = {key: tf.constant(value) for key, value in inputs.items()}
        return {key: value.numpy() for key, value in self.function(**tensors).items()}

    def to_json(self) -> dict[str, Any]:
        """The SignatureDef message as TF Serving's metadata endpoint prints it."""
        return {
            "inputs": {key: info.to_json() for key, info in self.inputs.items()},
            "outputs": {key: info.to_json() for key, info in self.outputs.items()},
            "method_name": PREDICT_METHOD,
        }


def _tensor_infos(specs: Mapping[str, tf.TensorSpec], tensors: list) -> dict[str, TensorInfo]:
    # Concrete functions flatten dicts in sorted key order, so graph tensors line up that way.
    infos = {}
    for index, key in enumerate(sorted(specs)):
        spec = specs[key]
        rank_known = spec.shape.rank is not None
        infos[key] = TensorInfo(
            key=key,
            dtype=spec.dtype,
            shape=tuple(spec.shape.as_list()) if rank_known else None,
            tensor_name=tensors[index].name if index < len(tensors) else key,
        )
    return infos


def read_signatures(loaded: Any) -> dict[str, Signature]:
    """The signatures of an object returned by ``tf.saved_model.load``, by name."""
    signatures = {}
    for name, function in loaded.signatures.items():
        _, keyword_specs = function.structured_input_signature
        # Signatures always return a dict (TF names a lone output ``output_0``).
        signatures[name] = Signature(
            name=name,
            inputs=_tensor_infos(keyword_specs, list(function.inputs)),
            outputs=_tensor_infos(function.structured_outputs, list(function.outputs)),
            function=function,
        )
    return signatures
