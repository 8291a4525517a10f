"""What the API does for each request: look up the model, validate, predict, answer.

:class:`ServingApp` holds the server's state (the catalog of loaded versions, the
registry watcher, the predictor, the rollouts and the metrics) and turns every outcome,
errors included, into a JSON response and a metrics sample. Every API's predict answers
through :meth:`ServingApp.predict_routed`, which sends a model's production requests
through its canary or shadow rollout, if one is in progress (:mod:`visionops.serving.rollout`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Response
from starlette.types import Receive

from visionops.release.settings import load_trusted_key
from visionops.release.signing import signature_checked
from visionops.serving.batching import Predictor
from visionops.serving.encoding import encode_outputs
from visionops.serving.errors import (
    BadRequestError,
    ClientGoneError,
    ImageTooLargeError,
    OverloadedError,
    PayloadTooLargeError,
    ServingError,
)
from visionops.serving.limits import (
    InflightBytes,
    Reservation,
    check_image_sizes,
    image_pixel_limit,
)
from visionops.serving.metrics import Metrics
from visionops.serving.models import Catalog, LoadedVersion, ModelState
from visionops.serving.options import MEGABYTE, ServeOptions
from visionops.serving.payload import parse_predict_body, request_arrays
from visionops.serving.production import ProductionLoop, new_request_id
from visionops.serving.rollout import LiveRollout, Result, Rollouts
from visionops.serving.rollout_log import ComparisonLog
from visionops.serving.rollout_settings import load_rollout_settings
from visionops.serving.signatures import Signature
from visionops.serving.watcher import RegistryWatcher

logger = logging.getLogger(__name__)

# Bodies up to this size are parsed on the event loop; larger ones in a thread.
INLINE_PARSE_BYTES = 256 * 1024
# Refusals counted in /metrics, by the reason label they are counted under.
REFUSALS = {OverloadedError: "inflight_bytes", ImageTooLargeError: "image_pixels"}


def json_response(status_code: int, body: Any) -> Response:
    """A compact JSON response (orjson: a fifth of the json module's time per response)."""
    content = orjson.dumps(body)
    return Response(content, status_code=status_code, media_type="application/json")


def error_response(
    status_code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """TF Serving's error body: ``{"error": message}``."""
    response = json_response(status_code, {"error": message})
    response.headers.update(headers or {})
    return response


async def read_body(
    receive: Receive, headers: Iterable[tuple[bytes, bytes]], limit: int, held: Reservation
) -> bytes:
    """A request body read from the ASGI ``receive`` channel, within its size and memory bounds.

    The body's bytes are reserved in ``held`` before they are kept: all of a declared
    Content-Length at once, a chunked body as it arrives.

    Raises:
        PayloadTooLargeError: The body is, or says it is, over ``limit`` bytes (413).
        OverloadedError: Reserving it would pass the bound on bytes in flight (503).
        ClientGoneError: The client disconnected before sending the whole body.
    """
    refusal = f"this server accepts request bodies of at most {limit} bytes (--max-body-mb)"
    declared = next((value for name, value in headers if name == b"content-length"), None)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the request body is {declared.decode()} bytes; {refusal}")
    admitted = held.grow(int(declared)) if declared is not None and declared.isdigit() else True
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError("the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if admitted and size > held.size:
            admitted = held.grow(size - held.size)
        if admitted and size <= limit:
            chunks.append(chunk)
        elif size > 4 * limit:
            # Past the limit, read on (and drop) a little, so that the client gets to
            # read the 413 rather than a connection reset; then give up on it.
            break
        else:
            chunks.clear()  # refused: read on to the end, keeping nothing, for the 503
        if not message.get("more_body", False):
            break
    if size > limit:
        raise PayloadTooLargeError(f"the request body is over {limit} bytes; {refusal}")
    if not admitted:
        budget = held.budget
        raise OverloadedError(
            f"the server holds {budget.held / MEGABYTE:.1f} MiB of request bodies in flight, "
            f"and this one ({size} bytes) would pass its bound of "
            f"{budget.limit / MEGABYTE:.1f} MiB (--max-inflight-mb); retry shortly"
        )
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


class ServingApp:
    """The state behind the routes: catalog, watcher, predictor and metrics."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.production = ProductionLoop(
            options.registry, options.project_dir, options.prediction_log, options.log_predictions
        )
        self.catalog = Catalog()
        loader = LoadedVersion
        if options.require_signature:  # an unsigned or changed version is refused, named
            loader = signature_checked(LoadedVersion, load_trusted_key(options.project_dir))
        self.watcher = RegistryWatcher(options.registry, self.catalog, options.poll_seconds, loader)
        self.metrics = Metrics()
        self.inflight = InflightBytes(options.max_inflight_bytes)
        self.predictor = Predictor(
            options.max_batch_size, options.batch_timeout_ms / 1000, self._observe_batch
        )
        rollout_settings = load_rollout_settings(options.project_dir)
        comparisons = None
        if rollout_settings.log_comparisons and self.production.recorder is not None:
            comparisons = ComparisonLog(self.production.folder / "rollouts")
        self.rollouts = Rollouts(options.registry, rollout_settings, comparisons)

    def _observe_batch(self, version: LoadedVersion, signature: str, size: int) -> None:
        self.metrics.observe_batch(version.model_name, version.version, signature, size)

    async def handle(
        self, method: str, name: str, work: Callable[[ModelState], Awaitable[tuple[Any, Any]]]
    ) -> Response:
        """Runs ``work`` on model ``name`` (see :meth:`run`); answers it, or its error, as JSON."""
        try:
            return json_response(200, await self.run(method, name, work))
        except ServingError as error:
            code = error.status_code
            retry = {} if error.retry_after_s is None else {"Retry-After": str(error.retry_after_s)}
            return error_response(code, error.message, retry)

    async def run(
        self,
        method: str,
        name: str,
        work: Callable[[ModelState], Awaitable[tuple[Any, Any]]],
        protocol: str = "rest",
    ) -> Any:
        """Runs ``work`` on model ``name``, records the request's metrics, returns the body.

        Every API (REST, gRPC) answers through here. ``work`` returns the version that
        answered and the response body.

        Raises:
            ServingError: The request failed; its ``status_code`` says how (an unexpected
                error is logged and raised as a 500 ServingError).
        """
        started = time.perf_counter()
        model, version, code = "", "", 200
        try:
            state = self.catalog.get(name)
            model = name
            answered, body = await work(state)
            version = str(answered)
            return body
        except ServingError as error:
            code = error.status_code
            if type(error) in REFUSALS:
                self.metrics.observe_refusal(REFUSALS[type(error)])
            raise
        except asyncio.CancelledError:
            code = ClientGoneError.status_code  # the client cancelled or went away
            raise
        except Exception as error:
            code = 500
            logger.exception("Internal error answering %s for model %r", method, name)
            raise ServingError(
                f"internal server error while answering {method}; see the log"
            ) from error
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe_request(model, version, method, code, elapsed, protocol)

    async def status(self, state: ModelState, version: int | None, label: str | None) -> Any:
        """The ``model_version_status`` of one version, or of every known one."""
        if version is None and label is None:
            statuses = [state.statuses[v] for v in sorted(state.statuses)]
            return "", {"model_version_status": [s.to_json() for s in statuses]}
        if label is not None:
            version = state.resolve(label=label).version
        status = state.status(version)
        return version, {"model_version_status": [status.to_json()]}

    async def metadata(self, state: ModelState, version: int | None, label: str | None) -> Any:
        """The model spec and signature definitions of the version a request names."""
        loaded = state.resolve(version, label)
        spec = {"name": state.name, "signature_name": "", "version": str(loaded.version)}
        return loaded.version, {"model_spec": spec, "metadata": loaded.metadata()}

    async def answer_predict(
        self,
        name: str,
        version: int | None,
        label: str | None,
        receive: Receive,
        headers: Iterable[tuple[bytes, bytes]],
    ) -> Response:
        """The response to a predict call on model ``name`` (and version or label, if named),
        with its request id in the ``X-Request-Id`` header."""
        request_id = new_request_id()
        response = await self.handle(
            "predict",
            name,
            lambda state: self.predict(receive, headers, state, version, label, request_id),
        )
        response.headers["x-request-id"] = request_id
        return response

    async def predict(
        self,
        receive: Receive,
        headers: Iterable[tuple[bytes, bytes]],
        state: ModelState,
        version: int | None,
        label: str | None,
        request_id: str = "",
    ) -> Any:
        """Reads and validates a predict body; answers it from the version it names, and
        hands the prediction to the log under ``request_id``.

        ``receive`` is the request's ASGI receive channel, ``headers`` its raw headers.
        """
        loaded = state.resolve(version, label)
        with self.inflight.reservation() as held:
            body = await read_body(receive, headers, self.options.max_body_bytes, held)
            if len(body) > INLINE_PARSE_BYTES:
                parsed = await asyncio.to_thread(parse_predict_body, body)
            else:
                parsed = parse_predict_body(body)
            answered, (signature, arrays, outputs) = await self.predict_routed(
                state,
                loaded,
                (version, label),
                parsed.signature_name,
                lambda signature: request_arrays(parsed, signature),
                request_id,
            )
        self.production.record(
            request_id, state, answered, label, signature.name, "rest", arrays, outputs
        )
        return answered.version, encode_outputs(outputs, signature, parsed.row_format)

    async def predict_routed(
        self,
        state: ModelState,
        loaded: LoadedVersion,
        named: tuple[int | None, str | None],
        signature_name: str,
        read: Callable[[Signature], tuple[dict[str, Any], int]],
        request_id: str,
    ) -> tuple[LoadedVersion, Result]:
        """Answers one predict request from ``loaded`` (the version it names), or through
        the model's rollout when it is a production request and one is in progress.

        Args:
            state: The model's state.
            loaded: The version the request names (``state.resolve``).
            named: The version and label the request named (None when it named none).
            signature_name: The signature it names ('' for the default).
            read: Checks its inputs against a signature (see :meth:`read_inputs`).
            request_id: Its request id, for the rollout's comparison log.

        Returns:
            The version that answered, and the signature, inputs and outputs.
        """

        async def run(target: LoadedVersion) -> Result:
            signature, arrays, size = self.read_inputs(target, signature_name, read)
            return signature, arrays, await self.predict_arrays(target, signature, arrays, size)

        live = self.rollouts.live(state, *named)
        if live is None:
            return loaded, await run(loaded)
        if self.predictor.batches(1) and self.rollouts.batched(live, state, signature_name):
            signature, arrays, size = self.read_inputs(loaded, signature_name, read)
            if self.predictor.batches(size):
                return await self._predict_batched(
                    live, state, loaded, run, signature, arrays, size, request_id
                )
        return await self.rollouts.answer(live, state, loaded, run, request_id)

    async def _predict_batched(
        self,
        live: LiveRollout,
        state: ModelState,
        production: LoadedVersion,
        run: Callable[[LoadedVersion], Awaitable[Result]],
        signature: Signature,
        arrays: dict[str, Any],
        size: int,
        request_id: str,
    ) -> tuple[LoadedVersion, Result]:
        """A canary's production request, queued with the others so that its whole batch
        goes to production or to the candidate (see :meth:`Rollouts.batch_router`)."""
        candidate = state.loaded[live.rollout.candidate]
        configured = self.options.max_image_pixels
        limit = min(image_pixel_limit(version, configured) for version in (production, candidate))
        check_image_sizes(arrays, signature, limit)
        name = signature.name

        def router() -> Any:
            return self.rollouts.batch_router(
                live,
                production,
                candidate,
                lambda version, batch: self.predictor.run_batch(version, name, batch),
                self.predictor.max_batch_size,
            )

        answered, outputs = await self.predictor.predict_routed(
            (state.name, name), (production, candidate, live), router, arrays, size
        )
        result = (answered.signature(name), arrays, outputs)
        self.rollouts.compare_batched(live, run, production, answered, result, request_id)
        return answered, result

    async def answer_feedback(
        self, name: str, receive: Receive, headers: Iterable[tuple[bytes, bytes]]
    ) -> Response:
        """The response to ``POST /v1/models/NAME:feedback`` (see
        :meth:`ProductionLoop.feedback`); the token is checked before the body is read."""
        authorization = next(
            (value.decode("latin-1") for key, value in headers if key == b"authorization"), None
        )

        async def work(state: ModelState) -> tuple[str, Any]:
            sender = self.production.authorize(authorization, "feedback", "rest")
            with self.inflight.reservation() as held:
                body = await read_body(receive, headers, self.options.max_body_bytes, held)
            return "", await self.production.feedback(state, body, sender)

        return await self.handle("feedback", name, work)

    def read_inputs(
        self,
        loaded: LoadedVersion,
        signature_name: str,
        read: Callable[[Signature], tuple[dict[str, Any], int]],
    ) -> tuple[Signature, dict[str, Any], int]:
        """The signature a request names (the default when empty), and the request's inputs
        as ``read`` checks them against it, with their batch size; what every API's predict
        runs before :meth:`predict_arrays`.

        Raises:
            BadRequestError: No such signature, or the inputs do not fit it; when the
                request named no signature, the message lists the version's signatures.
        """
        signature = loaded.signature(signature_name)
        try:
            arrays, size = read(signature)
        except BadRequestError as error:
            if signature_name:
                raise
            raise BadRequestError(
                f"{error.message} (no signature_name was given, so {signature.name!r} "
                f"was used; this version's signatures: {loaded.describe_signatures()})"
            ) from error
        return signature, arrays, size

    async def predict_arrays(
        self, loaded: LoadedVersion, signature: Signature, arrays: dict[str, Any], size: int
    ) -> dict[str, Any]:
        """The outputs of ``signature`` for inputs that fit it, once the encoded images
        among them are within the declared-size limit; what every API's predict runs.

        Raises:
            ImageTooLargeError: An encoded image declares too many pixels.
            BadRequestError: The model rejected an input.
        """
        limit = image_pixel_limit(loaded, self.options.max_image_pixels)
        check_image_sizes(arrays, signature, limit)
        return await self.predictor.predict(loaded, signature.name, arrays, size)

    def health(self) -> Response:
        """200 with every model's versions and labels if any version is loaded, else 503."""
        models = self.catalog.snapshot()
        report = {
            name: {
                "versions": {str(v): s.state for v, s in sorted(state.statuses.items())},
                "labels": dict(state.labels),
                "default_version": state.default_version(),
            }
            for name, state in sorted(models.items())
        }
        ready = any(state.loaded for state in models.values())
        return json_response(
            200 if ready else 503, {"status": "ok" if ready else "unavailable", "models": report}
        )

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """Loads what the registry serves before taking requests; polls it while serving."""
        await asyncio.to_thread(self.watcher.poll)
        self.production.start()
        self.rollouts.start()
        # TensorFlow and a loaded model leave ~400,000 long-lived objects; a full garbage
        # collection walks them all and stalls every request for ~250 ms (the p99 of the
        # load benchmark showed it). Freezing moves them out of its reach; versions
        # loaded later are collected as usual.
        gc.freeze()
        loaded = {name: sorted(s.loaded) for name, s in self.catalog.snapshot().items()}
        logger.info("Serving %s from %s", loaded or "no models yet", self.options.registry)
        self.watcher.start()
        try:
            yield
        finally:
            self.watcher.stop()
            await self.rollouts.close()
            self.predictor.close()
            await asyncio.to_thread(self.production.close)
