"""Find the app's event handlers from the Chalice app object, whatever they are.

Chalice records every `@app.on_s3_event` as an `S3EventConfig` and every `@app.schedule`
as a `ScheduledEventConfig` in `app.event_sources`, and keeps the Lambda-style callable
`(event, context)` in `app.handler_map[name]` — the same entry point Lambda calls.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from chalice.app import Chalice, S3EventConfig, ScheduledEventConfig, ScheduleExpression
from chalice.local import LambdaContext

#: Lambda's ceiling, which is also what the local invocation context reports.
MAX_RUNTIME_MS = 900_000
MEMORY_MB = 1024


@dataclass(frozen=True)
class S3Source:
    name: str
    bucket: str
    events: tuple[str, ...]
    prefix: str | None
    suffix: str | None

    def wants(self, event_name: str, key: str) -> bool:
        """Would S3 notify this handler of `event_name` (e.g. `s3:ObjectCreated:Put`) on `key`?"""
        family = ":".join(event_name.split(":")[:2]) + ":*"
        if event_name not in self.events and family not in self.events:
            return False
        return key.startswith(self.prefix or "") and key.endswith(self.suffix or "")


@dataclass(frozen=True)
class Schedule:
    name: str
    expression: str
    description: str


def s3_sources(app: Chalice) -> list[S3Source]:
    return [
        S3Source(src.name, src.bucket, tuple(src.events), src.prefix or None, src.suffix or None)
        for src in app.event_sources
        if isinstance(src, S3EventConfig)
    ]


def schedules(app: Chalice) -> list[Schedule]:
    out = []
    for src in app.event_sources:
        if isinstance(src, ScheduledEventConfig):
            expr = src.schedule_expression
            text = expr.to_string() if isinstance(expr, ScheduleExpression) else str(expr)
            out.append(Schedule(src.name, text, src.description or ""))
    return out


def invoke(app: Chalice, name: str, event: dict[str, Any]) -> Any:
    """Call handler `name` exactly as Lambda would: the event dict and a fresh context."""
    context = LambdaContext(
        function_name=f"{app.app_name}-local-{name}", memory_size=MEMORY_MB, max_runtime_ms=MAX_RUNTIME_MS
    )
    context.aws_request_id = str(uuid.uuid4())
    return app.handler_map[name](event, context)
