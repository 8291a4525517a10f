"""The TensorFlow Serving REST API (``/v1/models/...``) as a FastAPI application.

Endpoints, as TF Serving names them (``{target}`` is ``{name}``,
``{name}/versions/{version}`` or ``{name}/labels/{label}``):

- ``GET /v1/models/{target}``: version status (every known version for a bare name).
- ``GET /v1/models/{target}/metadata``: the signature definitions.
- ``POST /v1/models/{target}:predict``: predictions, row or columnar format.
- ``POST /v1/models/{name}:feedback``: true labels for logged predictions
  (``{"request_id": ID, "labels": [...]}`` or ``{"feedback": [...]}``); needs
  ``Authorization: Bearer <write token>`` (see :mod:`visionops.serving.production`).
- ``GET /healthz``: 200 once any version is loaded, else 503. ``GET /metrics``: Prometheus.

Every predict response carries its request id in ``X-Request-Id``.

A request that names no version is answered by the ``production`` label's version if
the label is set, else by the highest loaded version. Every error is answered as
``{"error": "<message>"}`` with a 4xx status when the client can fix it.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from visionops.registry.signature_names import DEFAULT_SIGNATURE
from visionops.serving.metrics import CONTENT_TYPE
from visionops.serving.options import ServeOptions
from visionops.serving.service import ServingApp, error_response

MODELS = "/v1/models/{name:tfs_name}"
# The predict routes below, as one pattern (names as _NameConvertor, versions as
# _VersionConvertor match them).
PREDICT_PATH = re.compile(
    r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?"
    r":predict"
)
TARGETS = ("", "/versions/{version:tfs_version}", "/labels/{label:tfs_name}")
ENDPOINTS = (
    "GET /v1/models/{name}[/versions/{version}|/labels/{label}][/metadata], "
    "POST /v1/models/{name}[/versions/{version}|/labels/{label}]:predict, "
    "POST /v1/models/{name}:feedback, GET /healthz, GET /metrics"
)
PREDICT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "Exactly one of 'instances' (row format) and 'inputs' "
                '(columnar format); binary values as {"b64": "..."}.',
                "properties": {
                    "signature_name": {"type": "string", "default": DEFAULT_SIGNATURE},
                    "instances": {"type": "array", "items": {}},
                    "inputs": {},
                },
            }
        }
    },
}

FEEDBACK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": 'One {"request_id": ID, "labels": [one class name per image]}, '
                'or a list of them under "feedback".',
            }
        }
    },
}


class _NameConvertor(Convertor):
    regex = "[^/:]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _VersionConvertor(Convertor):
    regex = "[0-9]+"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


def _path_parameters(target: str) -> list[dict[str, Any]]:
    parameters = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    if "version" in target:
        parameters.append(
            {"name": "version", "in": "path", "required": True, "schema": {"type": "integer"}}
        )
    if "label" in target:
        parameters.append(
            {"name": "label", "in": "path", "required": True, "schema": {"type": "string"}}
        )
    return parameters


def _add_model_routes(app: FastAPI, serving: ServingApp) -> None:
    # Path parameters are read from the request, so each handler serves all three targets.
    def target(request: Request) -> tuple[str, int | None, str | None]:
        params = request.path_params
        return params["name"], params.get("version"), params.get("label")

    async def status(request: Request) -> Response:
        name, version, label = target(request)
        return await serving.handle(
            "status", name, lambda state: serving.status(state, version, label)
        )

    async def metadata(request: Request) -> Response:
        name, version, label = target(request)
        return await serving.handle(
            "metadata", name, lambda state: serving.metadata(state, version, label)
        )

    async def predict(request: Request) -> Response:
        name, version, label = target(request)
        return await serving.answer_predict(
            name, version, label, request.receive, request.headers.raw
        )

    async def feedback(request: Request) -> Response:
        return await serving.answer_feedback(
            request.path_params["name"], request.receive, request.headers.raw
        )

    # Predict first: routes are tried in order, and predict is the hot path.
    for suffix in TARGETS:
        by = " by version" if "version" in suffix else " by label" if "label" in suffix else ""
        app.add_api_route(
            MODELS + suffix + ":predict",
            predict,
            methods=["POST"],
            summary=f"Predict{by}",
            openapi_extra={"parameters": _path_parameters(suffix), "requestBody": PREDICT_BODY},
        )
    app.add_api_route(
        MODELS + ":feedback",
        feedback,
        methods=["POST"],
        summary="Feedback labels for logged predictions (needs a write token)",
        openapi_extra={"parameters": _path_parameters(""), "requestBody": FEEDBACK_BODY},
    )
    for suffix in TARGETS:
        by = " by version" if "version" in suffix else " by label" if "label" in suffix else ""
        path, extra = MODELS + suffix, {"parameters": _path_parameters(suffix)}
        app.add_api_route(
            path, status, methods=["GET"], summary=f"Version status{by}", openapi_extra=extra
        )
        app.add_api_route(
            path + "/metadata",
            metadata,
            methods=["GET"],
            summary=f"Model metadata{by}",
            openapi_extra=extra,
        )


class PredictFirst:
    """The ASGI application served: predict calls go straight to the service, the rest to FastAPI.

    A predict call is the hot path, and FastAPI's middleware stack, request object and
    endpoint machinery cost more server time per call than parsing, checking and
    answering it (about 0.07 ms of 0.1 ms on the load benchmark's machine). This skips
    them for ``POST`` on a predict path only; the request meets the same service code
    (``ServingApp.answer_predict``) that FastAPI's predict routes call, which stay for
    the OpenAPI schema and for anything that mounts the FastAPI application by itself.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.serving: ServingApp = app.state.serving

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = PREDICT_PATH.fullmatch(scope["path"])
            if match is not None:
                name, version, label = match.group("name", "version", "label")
                response = await self.serving.answer_predict(
                    name,
                    None if version is None else int(version),
                    label,
                    receive,
                    scope["headers"],
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(options: ServeOptions) -> FastAPI:
    """The FastAPI application serving the registry named in ``options``."""
    register_url_convertor("tfs_name", _NameConvertor())
    register_url_convertor("tfs_version", _VersionConvertor())
    serving = ServingApp(options)
    app = FastAPI(
        title="visionops model server",
        description="The TensorFlow Serving REST API over a visionops model registry.",
        lifespan=serving.lifespan,
    )
    app.state.serving = serving
    _add_model_routes(app, serving)

    @app.get("/healthz", summary="Readiness: 200 once a version is loaded")
    async def healthz() -> Response:
        return serving.health()

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        models = serving.catalog.snapshot()
        lines = [*serving.production.render_metrics(models)]
        lines += serving.rollouts.render_metrics(models)
        text = serving.metrics.render(models) + "".join(f"{line}\n" for line in lines)
        return Response(text, media_type=CONTENT_TYPE)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        where = f"{request.method} {request.url.path}"
        if error.status_code == 404:
            message = f"no endpoint {where}; this server answers {ENDPOINTS}"
        elif error.status_code == 405:
            allowed = (error.headers or {}).get("Allow", "")
            message = f"method {request.method} is not allowed on {request.url.path}; use {allowed}"
        else:
            message = f"{where}: {error.detail}"
        return error_response(error.status_code, message, error.headers)

    return app
