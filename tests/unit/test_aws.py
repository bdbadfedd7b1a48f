"""The AWS boundary (`core.aws`): a storage outage is one typed error, every store call is
timed as a metric, and clients retry the botocore way."""
from __future__ import annotations

import json

import pytest

from chalicelib.core import aws, observability
from chalicelib.core import tables as models
from chalicelib.core.errors import StorageUnavailable
from chalicelib.core.settings import load_settings
from chalicelib.jobs import lifecycle as jobs
from chalicelib.jobs import queries


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
