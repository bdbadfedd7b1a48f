"""Test environment: the `test` stage on moto, with an injected clock.

The environment is set before any `chalicelib` import so models bind to test names.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Iterator

os.environ.update(
    {
        "AMR_STAGE": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AMR_JWT_SECRET": "test-secret-" + "x" * 40,
        "POWERTOOLS_METRICS_NAMESPACE": "AMRTest",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("AMR_AWS_ENDPOINT_URL", None)

import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib import aws, clock, models  # noqa: E402
from chalicelib.settings import get_settings  # noqa: E402

START = datetime(2026, 11, 24, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def fake_clock() -> Iterator[clock.FakeClock]:
    fake = clock.FakeClock(START)
    clock.set_clock(fake)
    yield fake
    clock.set_clock(None)


@pytest.fixture
def aws_env(fake_clock: clock.FakeClock) -> Iterator[None]:
    """moto with every table and bucket of the service created."""
    with mock_aws():
        aws.reset_clients()
        models.bind_models(get_settings())
        models.create_tables()
        s3 = aws.client("s3")
        settings = get_settings()
        for bucket in (settings.upload_bucket, settings.results_bucket, settings.archive_bucket):
            s3.create_bucket(Bucket=bucket)
        yield
    aws.reset_clients()
    models.bind_models(get_settings())
