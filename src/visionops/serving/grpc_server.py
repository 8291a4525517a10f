"""The TensorFlow Serving gRPC API (``tensorflow.serving.PredictionService`` and ``ModelService``).

Answered: ``Predict``, ``GetModelMetadata`` (``signature_def``) and ``GetModelStatus``;
``Classify``, ``Regress``, ``MultiInference`` and ``HandleReloadConfigRequest`` answer
UNIMPLEMENTED. The server runs on the event loop of the REST API and answers every
call through the same :class:`ServingApp`: the same version choice (a ``model_spec``
naming no version or label gets the ``production`` label's version, else the newest),
signatures, micro-batches, label swaps and metrics (``protocol="grpc"``). The status
and metadata answers are REST's JSON bodies, which are TF Serving's messages in proto3
JSON, read into the messages. A :class:`ServingError` is answered with the gRPC status
that its HTTP status maps to (:func:`grpc_status`), and its message as the details.
``--max-body-mb`` bounds one request message, and Predict messages count against
``--max-inflight-mb`` as REST bodies do. Each Predict call's request id is in the
trailing metadata (``x-request-id``), and the call is logged as REST's are.
``HandleReloadConfigRequest`` would change state, so it asks for the write token
(``authorization: Bearer <token>`` metadata) before answering UNIMPLEMENTED.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
import numpy as np
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from visionops.errors import ConfigError
from visionops.serving.errors import BadRequestError, OverloadedError, ServingError
from visionops.serving.models import ModelState
from visionops.serving.options import MEGABYTE, ServeOptions
from visionops.serving.production import new_request_id
from visionops.serving.service import ServingApp
from visionops.serving.signatures import Signature
from visionops.serving.tensor_proto import output_proto, request_arrays

# How long calls in progress may take to finish once the server stops, as for REST.
GRACE_SECONDS = 10.0
GRPC_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    503: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
METADATA_FIELDS = ("signature_def",)
REQUEST_ID_KEY = "x-request-id"

Work = Callable[[ModelState], Awaitable[tuple[Any, Any]]]


def grpc_status(http_status: int) -> grpc.StatusCode:
    """The gRPC status of an outcome that REST answers with ``http_status``."""
    if http_status in GRPC_STATUS:
        return GRPC_STATUS[http_status]
    if 400 <= http_status < 500:
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.INTERNAL


def _version_choice(spec: model_pb2.ModelSpec) -> tuple[int | None, str | None]:
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return spec.version.value, None
    if choice == "version_label" and spec.version_label:
        return None, spec.version_label
    return None, None


async def _answer(
    serving: ServingApp, method: str, name: str, work: Work, context: grpc.aio.ServicerContext
) -> Any:
    try:
        return await serving.run(method, name, work, protocol="grpc")
    except ServingError as error:
        await context.abort(grpc_status(error.status_code), error.message)


async def _unimplemented(context: grpc.aio.ServicerContext, method: str, instead: str) -> None:
    await context.abort(
        grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented by visionops serve; {instead}"
    )


def _check_output_filter(names: Sequence[str], signature: Signature) -> None:
    unknown = sorted(set(names) - set(signature.outputs))
    if unknown:
        raise BadRequestError(
            f"output_filter names {unknown}, which signature {signature.name!r} does not "
            f"return; its outputs are {sorted(signature.outputs)}"
        )
    if len(set(names)) != len(names):
        raise BadRequestError(f"output_filter names an output twice: {list(names)}")


def _predict_response(
    name: str,
    version: int,
    signature: Signature,
    outputs: Mapping[str, np.ndarray],
    output_filter: Sequence[str],
) -> predict_pb2.PredictResponse:
    response = predict_pb2.PredictResponse()
    response.model_spec.name = name
    response.model_spec.version.value = version
    response.model_spec.signature_name = signature.name
    for key in output_filter or sorted(outputs):
        response.outputs[key].CopyFrom(output_proto(key, outputs[key]))
    return response


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``tensorflow.serving.PredictionService``: Predict and GetModelMetadata."""

    def __init__(self, serving: ServingApp) -> None:
        self.serving = serving

    async def Predict(  # noqa: N802 (the generated servicer's method names)
        self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> predict_pb2.PredictResponse:
        """Predictions of the signature ``model_spec`` names, for the request's input tensors."""
        spec = request.model_spec
        version, label = _version_choice(spec)
        output_filter = list(request.output_filter)
        request_id = new_request_id()
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))

        def read(signature: Signature) -> tuple[dict[str, np.ndarray], int]:
            _check_output_filter(output_filter, signature)
            return request_arrays(request.inputs, signature)

        async def work(state: ModelState) -> tuple[int, predict_pb2.PredictResponse]:
            loaded = state.resolve(version, label)
            with self.serving.inflight.reservation() as held:
                message_bytes = request.ByteSize()
                if not held.grow(message_bytes):
                    raise OverloadedError(
                        f"the server holds {held.budget.held / MEGABYTE:.1f} MiB of requests "
                        f"in flight, and this one ({message_bytes} bytes) would pass its bound of "
                        f"{held.budget.limit / MEGABYTE:.1f} MiB (--max-inflight-mb); retry "
                        "shortly"
                    )
                answered, (signature, arrays, outputs) = await self.serving.predict_routed(
                    state, loaded, (version, label), spec.signature_name, read, request_id
                )
            self.serving.production.record(
                request_id, state, answered, label, signature.name, "grpc", arrays, outputs
            )
            response = _predict_response(
                state.name, answered.version, signature, outputs, output_filter
            )
            return answered.version, response

        return await _answer(self.serving, "predict", spec.name, work, context)

    async def GetModelMetadata(  # noqa: N802
        self,
        request: get_model_metadata_pb2.GetModelMetadataRequest,
        context: grpc.aio.ServicerContext,
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        """The signature definitions of the version ``model_spec`` names, as a SignatureDefMap."""
        spec = request.model_spec
        version, label = _version_choice(spec)

        async def work(state: ModelState) -> tuple[Any, Any]:
            fields = list(request.metadata_field)
            unknown = sorted(set(fields) - set(METADATA_FIELDS))
            if not fields or unknown:
                problem = f"asks for {unknown}" if unknown else "names no metadata_field"
                raise BadRequestError(
                    f"the GetModelMetadataRequest {problem}; this server answers "
                    f"metadata_field {list(METADATA_FIELDS)}"
                )
            answered, body = await self.serving.metadata(state, version, label)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            json_format.ParseDict(body["model_spec"], response.model_spec)
            signature_defs = json_format.ParseDict(
                body["metadata"]["signature_def"], get_model_metadata_pb2.SignatureDefMap()
            )
            response.metadata["signature_def"].Pack(signature_defs)
            return answered, response

        return await _answer(self.serving, "metadata", spec.name, work, context)

    async def Classify(self, request: Any, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        """UNIMPLEMENTED: the signatures served here are predict signatures."""
        await _unimplemented(context, "Classify", "call Predict")

    async def Regress(self, request: Any, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        """UNIMPLEMENTED: the signatures served here are predict signatures."""
        await _unimplemented(context, "Regress", "call Predict")

    async def MultiInference(  # noqa: N802
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> None:
        """UNIMPLEMENTED: the signatures served here are predict signatures."""
        await _unimplemented(context, "MultiInference", "call Predict")


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """``tensorflow.serving.ModelService``: GetModelStatus."""

    def __init__(self, serving: ServingApp) -> None:
        self.serving = serving

    async def GetModelStatus(  # noqa: N802
        self,
        request: get_model_status_pb2.GetModelStatusRequest,
        context: grpc.aio.ServicerContext,
    ) -> get_model_status_pb2.GetModelStatusResponse:
        """The state of the version ``model_spec`` names, or of every known version if none."""
        version, label = _version_choice(request.model_spec)

        async def work(state: ModelState) -> tuple[Any, Any]:
            answered, body = await self.serving.status(state, version, label)
            return answered, json_format.ParseDict(
                body, get_model_status_pb2.GetModelStatusResponse()
            )

        return await _answer(self.serving, "status", request.model_spec.name, work, context)

    async def HandleReloadConfigRequest(  # noqa: N802
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> None:
        """UNIMPLEMENTED: the server follows models.config in the registry. It would change
        state, so a call without the write token is refused UNAUTHENTICATED first."""
        authorization = dict(context.invocation_metadata() or ()).get("authorization")
        try:
            self.serving.production.authorize(authorization, "reload_config", "grpc")
        except ServingError as error:
            await context.abort(grpc_status(error.status_code), error.message)
        await _unimplemented(
            context,
            "HandleReloadConfigRequest",
            "it follows models.config in the registry, so move labels with visionops "
            "models promote or rollback and the server picks the change up",
        )


class GrpcServer:
    """The gRPC API of a :class:`ServingApp` on ``options.host`` and ``options.grpc_port``.

    Create it on the event loop that is to serve it. The port is bound at once, so a
    taken port is reported before any model loads; calls are answered once started.

    Raises:
        ConfigError: The address cannot be bound.
    """

    def __init__(self, serving: ServingApp, options: ServeOptions) -> None:
        host = f"[{options.host}]" if ":" in options.host else options.host
        self.address = f"{host}:{options.grpc_port}"
        self._server = grpc.aio.server(
            options=[
                # gRPC turns SO_REUSEPORT on by default, and a second server on a taken
                # port would then silently share its calls instead of failing.
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", options.max_body_bytes),
            ]
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(serving), self._server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelService(serving), self._server
        )
        try:
            bound = self._server.add_insecure_port(self.address)
        except RuntimeError:
            bound = 0
        if not bound:
            raise ConfigError(
                f"cannot listen for gRPC on {self.address}: the port is taken or the host is "
                "not an address of this machine; pass --grpc-port with a free port, or "
                "--grpc-port 0 to serve REST only"
            )

    async def start(self) -> None:
        """Starts answering calls."""
        await self._server.start()

    async def stop(self) -> None:
        """Refuses new calls and lets those in progress finish (up to ``GRACE_SECONDS``)."""
        await self._server.stop(GRACE_SECONDS)
