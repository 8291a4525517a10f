"""The TensorFlow Serving REST API (``/v1/models/...``) as a FastAPI application.

Endpoints, as TF Serving names them (``{target}`` is ``{name}``,
``{name}/versions/{version}`` or ``{name}/labels/{label}``):

- ``GET /v1/models/{target}``: version status (every known version for a bare name).
- ``GET /v1/models/{target}/metadata``: the signature definitions.
- ``POST /v1/models/{target}:predict``: predictions, row or columnar format.
- ``GET /healthz``: 200 once any version is loaded, else 503. ``GET /metrics``: Prometheus.

A request that names no version is answered by the ``production`` label's version if
the label is set, else by the highest loaded version. Every error is answered as
``{"error": "<message>"}`` with a 4xx status when the client can fix it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException

from visionops.serving.metrics import CONTENT_TYPE
from visionops.serving.options import ServeOptions
from visionops.serving.service import ServingApp, error_response

MODELS = "/v1/models/{name:tfs_name}"
TARGETS = ("", "/versions/{version:tfs_version}", "/labels/{label:tfs_name}")
ENDPOINTS = (
    "GET /v1/models/{name}[/versions/{version}|/labels/{label}][/metadata], "
    "POST /v1/models/{name}[/versions/{version}|/labels/{label}]:predict, "
    "GET /healthz, GET /metrics"
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
                    "signature_name": {"type": "string", "default": "serving_default"},
                    "instances": {"type": "array", "items": {}},
                    "inputs": {},
                },
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
        return await serving.handle(
            "predict", name, lambda state: serving.predict(request, state, version, label)
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
        text = serving.metrics.render(serving.catalog.snapshot())
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
