"""Errors a client of the server can cause, each with the HTTP status it is answered with."""

from __future__ import annotations

from visionops.errors import VisionOpsError


class ServingError(VisionOpsError):
    """A request the server cannot answer; ``status_code`` is the HTTP status to send,
    ``retry_after_s`` the Retry-After header's seconds (None: no header)."""

    status_code = 500
    retry_after_s: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(ServingError):
    """The request body or its values are malformed or do not fit the signature (400)."""

    status_code = 400


class ModelInputError(BadRequestError):
    """The model itself rejected an input that passed validation, e.g. undecodable image bytes."""


class ImageTooLargeError(BadRequestError):
    """An encoded image declares more pixels than the server decodes; refused before decoding."""


class NotFoundError(ServingError):
    """No such model, version, label or endpoint (404)."""

    status_code = 404


class PayloadTooLargeError(ServingError):
    """The request body is larger than the server accepts (413)."""

    status_code = 413


class ClientGoneError(ServingError):
    """The client disconnected before its request was read; counted as 499, as nginx does."""

    status_code = 499


class OverloadedError(ServingError):
    """The request bodies in flight reached the server's bound; retry shortly (503)."""

    status_code = 503
    retry_after_s = 1


class UnauthenticatedError(ServingError):
    """A write without a valid bearer token (401; gRPC: UNAUTHENTICATED)."""

    status_code = 401


class WritingDisabledError(ServingError):
    """A write to a server that has no write token configured (403)."""

    status_code = 403


class ConflictError(ServingError):
    """The write contradicts what is recorded already (409)."""

    status_code = 409
