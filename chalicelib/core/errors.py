"""The service's one error vocabulary.

Domain code raises these; the HTTP layer turns any of them into the one error body
`{"error": {"code": ..., "message": ...}}` with the status below, and event handlers turn
them into a job `Error` with the message. Nothing else reaches a client.
"""

from __future__ import annotations

from typing import Any

from chalice.app import ChaliceUnhandledError


class ServiceError(ChaliceUnhandledError):
    """Base of every expected failure: carries an HTTP status and a stable code.

    It derives from ChaliceUnhandledError only so Chalice lets it propagate to our HTTP
    middleware instead of rendering its own error body.
    """

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class ValidationFailed(BadRequest):
    code = "validation_error"


class InvalidToken(BadRequest):
    """A pagination token that was not issued by us for this query."""

    code = "invalid_token"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class MethodNotAllowed(ServiceError):
    status, code = 405, "method_not_allowed"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class InvalidTransition(Conflict):
    """A lifecycle transition that the state machine or a concurrent writer refused."""

    code = "invalid_transition"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class TooManyRequests(ServiceError):
    status, code = 429, "too_many_requests"


class StorageUnavailable(ServiceError):
    """DynamoDB or S3 failed after botocore's retries: the client may retry later."""

    status, code = 503, "storage_unavailable"


class ConfigurationError(ServiceError):
    """The deployment is misconfigured (missing secret, bad policy): refuse to serve."""

    status, code = 503, "misconfigured"
