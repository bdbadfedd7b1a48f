"""Base classes of every request and response model, so all routes validate alike.

Imported only by modules that already need pydantic (never at cold start).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """Requests are strict: unknown fields and wrong JSON types are errors, never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(BaseModel):
    """Query strings are text, so numbers are parsed from it; unknown names are errors."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
