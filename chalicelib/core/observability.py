"""Structured logging and metrics shared by every function (design §9).

Powertools' Logger writes one JSON object per line and carries appended keys (request,
job and user ids) on every later line; Metrics writes CloudWatch embedded-metric-format
lines, which CloudWatch turns into metrics without an agent or an API call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.core import bounds

# Not the Chalice app name: Chalice configures a logger of that name (level ERROR
# when debug is off), which would silence ours.
SERVICE = "amr"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AMRService")


class _BoundedValues(logging.Filter):
    """No log line carries a megabyte of input: long string values are clipped (design §23)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and len(value) > bounds.MAX_LOG_VALUE_CHARS and key != "exc_text":
                setattr(record, key, bounds.clip(value, bounds.MAX_LOG_VALUE_CHARS))
        if isinstance(record.msg, str) and len(record.msg) > bounds.MAX_LOG_VALUE_CHARS:
            record.msg = bounds.clip(record.msg, bounds.MAX_LOG_VALUE_CHARS)
        return True


logger = Logger(service=SERVICE)
logger.addFilter(_BoundedValues())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
#: Powertools keeps one metric set per process and does not lock it; Lambda runs one
#: invocation at a time, but the local stack and tests run handlers on threads, where a
#: flush iterating the set while another thread adds to it would raise.
_metrics_lock = threading.Lock()


@contextmanager
def timed(metric: str) -> Iterator[None]:
    """Record the wall time of the block as `<metric>` in milliseconds."""
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        with _metrics_lock:
            metrics.add_metric(name=metric, unit=MetricUnit.Milliseconds, value=round(elapsed_ms, 3))


def count(metric: str, value: float = 1) -> None:
    with _metrics_lock:
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=value)


def flush() -> None:
    """Emit accumulated metrics; called once at the end of every invocation."""
    with _metrics_lock:
        if metrics.metric_set:  # an empty flush only produces a warning
            metrics.flush_metrics(raise_on_empty_metrics=False)


def bind(**keys: str | None) -> None:
    """Attach ids to every later log line of this invocation (None values are skipped).

    Thread-local keys: the local gateway and event bridge run invocations in threads,
    and one request's ids must never appear on another's lines.
    """
    logger.thread_safe_append_keys(**{k: v for k, v in keys.items() if v is not None})


def reset_context() -> None:
    """Drop per-invocation keys so one request's ids never leak into the next."""
    logger.thread_safe_clear_keys()
