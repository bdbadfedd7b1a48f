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

from chalicelib.core import aws, clock, tables as models  # noqa: E402
from chalicelib.core.settings import get_settings  # noqa: E402

START = datetime(2026, 11, 24, 12, 0, 0, tzinfo=timezone.utc)


SHARED_DATA = ("endpoints", "partitions", "endpoint-rule-set-1", "sdk-default-configuration", "_retry")


def _parse_botocore_data_once() -> None:
    """Each test's moto world builds fresh boto3 and PynamoDB sessions, and each session
    re-parses botocore's endpoint and service JSON: about a second of every test's setup.
    The endpoint data (most of that time) does not change during a run and botocore only
    reads it, so it is parsed once per process (botocore's own cache is per session; a
    Lambda container keeps its clients, so only tests pay this)."""
    from botocore import loaders

    parse = loaders.JSONFileLoader.load_file
    parsed: dict[str, object] = {}

    def load_file(self: loaders.JSONFileLoader, file_path: str) -> object:
        if not file_path.endswith(SHARED_DATA):  # service models are changed once loaded: parsed anew
            return parse(self, file_path)
        if file_path not in parsed:
            parsed[file_path] = parse(self, file_path)
        return parsed[file_path]

    loaders.JSONFileLoader.load_file = load_file  # type: ignore[method-assign]


_parse_botocore_data_once()


@pytest.fixture
def fake_clock() -> Iterator[clock.FakeClock]:
    fake = clock.FakeClock(START)
    clock.set_clock(fake)
    yield fake
    clock.set_clock(None)


@pytest.fixture
def aws_env(fake_clock: clock.FakeClock) -> Iterator[None]:
    """moto with every table and bucket of the service created.

    moto applies conditional writes and transactions without a lock, while DynamoDB
    makes each atomic; `serialise_writes` restores that guarantee so races in
    tests are DynamoDB's races, not moto's.
    """
    from local.emulator import serialise_writes
    from local.iam import Guard, summary as iam_summary
    from local.provision import provision

    undo = serialise_writes()
    guard = Guard(get_settings())  # calls made inside a handler meet its role's policy (design §23)
    guard.install()
    with mock_aws():
        aws.reset_clients()
        provision()
        yield
    guard.uninstall()
    report = os.environ.get("AMR_IAM_REPORT")  # collect what the functions called (docs/reliability.md)
    if report:
        with open(report, "a", encoding="utf-8") as out:
            out.writelines("\t".join(row) + "\n" for row in iam_summary(guard.observed))
    undo()
    aws.reset_clients()
    models.bind_models(get_settings())


@pytest.fixture
def client(aws_env: None) -> Iterator[object]:
    """Chalice's test client over the real app, on moto."""
    from chalice.test import Client

    from app import app
    from local.iam import guard_app

    unguard = guard_app(app)  # each route and handler runs as its deployed function
    try:
        with Client(app, stage_name="local") as test_client:
            yield test_client
    finally:
        unguard()


@pytest.fixture
def make_user(aws_env: None):  # type: ignore[no-untyped-def]
    """Create an account and return (user_id, auth headers) for it."""
    from chalicelib.accounts import auth, users

    counter = iter(range(10_000))

    def make(username: str | None = None, role: str = "user") -> tuple[str, dict[str, str]]:
        name = username or f"user{next(counter)}"
        user = users.create_user(username=name, email=f"{name}@example.org", password="correct-horse-1", role=role)
        token = auth.issue_token(user)
        return user.user_id, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    return make


@pytest.fixture
def run_async(aws_env: None):  # type: ignore[no-untyped-def]
    """Run every queued asynchronous invocation now, as Lambda (or the local stack's
    invoker) would; returns [(function, result)]."""
    from app import app
    from local.invoker import drain

    def run() -> list[tuple[str, object]]:
        sqs = aws.client("sqs")
        return drain(app, sqs, sqs.get_queue_url(QueueName=get_settings().async_queue)["QueueUrl"])

    return run


@pytest.fixture
def run_notifications(aws_env: None):  # type: ignore[no-untyped-def]
    """Read the tables' streams into the notifier and run every queued delivery that is
    due, until nothing moves, as Lambda's stream and queue triggers would; returns
    [(handler, result)]."""
    from app import app
    from local.streams import StreamPump, streams_client

    pump = StreamPump(app, aws.client("dynamodb"), streams_client(None), start="TRIM_HORIZON")
    pump.prime()

    def run() -> list[tuple[str, object]]:
        from local.discovery import invoke

        sqs = aws.client("sqs")
        url = sqs.get_queue_url(QueueName=get_settings().notifications_queue)["QueueUrl"]
        done: list[tuple[str, object]] = []
        while True:
            moved = pump.pump()
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            for message in messages:
                event = {"Records": [{"body": message["Body"], "messageId": message["MessageId"],
                                      "receiptHandle": message["ReceiptHandle"], "attributes": {},
                                      "eventSource": "aws:sqs"}]}
                done.append(("deliver_notifications", invoke(app, "deliver_notifications", event)))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if not moved and not messages:
                return done

    return run
