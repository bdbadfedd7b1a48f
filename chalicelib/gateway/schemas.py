"""Response models of the service as a whole: the one error format and health.

Only the OpenAPI document needs them; handlers build these bodies from
`chalicelib.core.errors.ServiceError.body()` and `chalicelib.gateway.health`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.core.schemas import ResponseModel


class HealthCheck(ResponseModel):
    status: Literal["ok", "error"]
    detail: str | None = None


class HealthResponse(BaseModel):
    """Public health. A 503 carries the same fields plus the usual `error` object."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "unavailable"]
    checks: dict[str, HealthCheck]
    error: dict[str, Any] | None = None


class ErrorDetail(ResponseModel):
    code: str = Field(description="Stable machine-readable code, e.g. validation_error, not_found")
    message: str
    details: Any | None = None


class ErrorBody(ResponseModel):
    """The one error format of every 4xx/5xx answer."""

    error: ErrorDetail
