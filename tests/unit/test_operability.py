"""Operability: storage outages surface as one typed error; logs and metrics are structured."""
from __future__ import annotations

import io
import json

import pytest

from chalicelib.core import aws, observability, tables as models
from chalicelib.jobs import lifecycle as jobs, queries
from chalicelib.core.errors import StorageUnavailable
from chalicelib.core.settings import load_settings


@pytest.fixture
def unreachable_storage(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Point every client at a closed local port: real connection failures, no mocks."""
    monkeypatch.setenv("AMR_AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AMR_MAX_RETRY_ATTEMPTS", "1")
    settings = load_settings()
    monkeypatch.setattr("chalicelib.core.aws.get_settings", lambda: settings)
    models.bind_models(settings)
    aws.reset_clients()
    yield
    from chalicelib.core.settings import get_settings

    models.bind_models(get_settings())
    aws.reset_clients()


def test_storage_outage_is_one_typed_error(unreachable_storage: None) -> None:
    with pytest.raises(StorageUnavailable) as info:
        queries.get_job("00000000-0000-4000-8000-000000000000")
    assert info.value.status == 503
    assert info.value.body()["error"]["code"] == "storage_unavailable"
    assert "retry" in info.value.message
    from chalicelib.jobs import s3layout

    with pytest.raises(StorageUnavailable):
        s3layout.get_object_bytes("amr-test-results", "nothing")


def test_clients_use_botocore_retry_modes() -> None:
    config = aws.client("s3").meta.config
    assert config.retries["mode"] in ("standard", "adaptive")
    assert config.retries["total_max_attempts"] >= 2
    pynamo_client = models.JobModel._get_connection().connection.client
    assert pynamo_client.meta.config.retries["mode"] == "standard"


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


@pytest.mark.usefixtures("aws_env")
def test_store_calls_publish_timing_metrics(capfd: pytest.CaptureFixture[str]) -> None:
    observability.flush()
    capfd.readouterr()
    job = jobs.create_job(user_id="u", job_name="n", params={})
    queries.get_job(job.job_id)
    observability.flush()
    emf = [json.loads(l) for l in capfd.readouterr().out.splitlines() if '"_aws"' in l]
    assert emf, "no embedded-metric-format line was written"
    names = {m["Name"] for doc in emf for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"store.create_job.ms", "store.get_job.ms"} <= names
    timings = [doc["store.get_job.ms"] for doc in emf if "store.get_job.ms" in doc]
    assert all(v >= 0 for t in timings for v in (t if isinstance(t, list) else [t]))


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
