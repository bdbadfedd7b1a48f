"""Structured logs (`core.observability`): JSON lines with the ids bound to the invocation,
never leaking between threads."""
from __future__ import annotations

import io
import json

from chalicelib.core import observability


def test_logs_are_json_with_bound_ids() -> None:
    handler = observability.logger.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        observability.reset_context()
        observability.bind(request_id="req-1", job_id="job-1", user_id=None)
        observability.logger.warning("hello")
        observability.reset_context()
        observability.logger.warning("after")
    finally:
        handler.setStream(previous)
    first, second = (json.loads(l) for l in stream.getvalue().splitlines())
    assert "request_id" not in second
    assert first["message"] == "hello"
    assert first["request_id"] == "req-1" and first["job_id"] == "job-1"
    assert "user_id" not in first


def test_log_ids_do_not_leak_between_threads() -> None:
    import threading

    handler = observability.logger.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)
    barrier = threading.Barrier(2)

    def invocation(name: str) -> None:
        observability.reset_context()
        observability.bind(request_id=f"req-{name}", job_id=f"job-{name}")
        barrier.wait()
        observability.logger.warning(f"from {name}")
        observability.reset_context()

    try:
        threads = [threading.Thread(target=invocation, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        handler.setStream(previous)
    lines = [json.loads(l) for l in stream.getvalue().splitlines()]
    assert len(lines) == 2
    for line in lines:
        name = line["message"].split()[-1]
        assert line["request_id"] == f"req-{name}" and line["job_id"] == f"job-{name}"
