"""The local stack's parts on their own: schedule maths, the event bridge's retry and
dead-letter behaviour, and snapshot/restore fidelity, on an in-process emulator.

These run a real moto server thread (a free port) with a toy Chalice app, so failure
paths the real app never takes on purpose (a handler that raises) are exercised too.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from urllib.parse import unquote_plus
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from chalice.app import Chalice, Rate

from local import discovery
from local.bridge import EventBridge, queue_name
from local.emulator import ChangeTracker, Emulator
from local.scheduler import Scheduler, next_run, scheduled_event
from local.state import StateStore

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)  # a Tuesday


# ------------------------------------------------------------------ schedules


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rate(5 minutes)", T0 + timedelta(minutes=5)),
        ("rate(1 hour)", T0 + timedelta(hours=1)),
        ("rate(2 days)", T0 + timedelta(days=2)),
        ("cron(0 3 * * ? *)", datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)),
        ("cron(30 12 ? * MON-FRI *)", datetime(2026, 11, 24, 12, 30, tzinfo=timezone.utc)),
        ("cron(0 0 ? * SAT *)", datetime(2026, 11, 28, 0, 0, tzinfo=timezone.utc)),
        ("cron(0/20 * * * ? *)", datetime(2026, 11, 24, 12, 20, tzinfo=timezone.utc)),
        ("cron(0 0 1 JAN ? *)", datetime(2027, 1, 1, 0, 0, tzinfo=timezone.utc)),
    ],
)
def test_next_run_follows_rate_and_cron(expression: str, expected: datetime) -> None:
    assert next_run(expression, T0) == expected


@pytest.mark.parametrize("expression", ["cron(0 0 L * ? *)", "cron(0 0 ? * 6#3 *)", "every day", "cron(1 2 3)"])
def test_unsupported_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        next_run(expression, T0)


def test_scheduler_runs_due_rules_once_and_remembers_across_restarts(tmp_path: Path) -> None:
    now = [T0]
    ran: list[str] = []
    rules = [discovery.Schedule("often", "rate(5 minutes)", ""), discovery.Schedule("daily", "rate(1 day)", "")]

    def make() -> Scheduler:
        return Scheduler(rules, tmp_path, lambda s: ran.append(s.name), clock=lambda: now[0])

    first = make()
    first.tick()
    assert ran == []  # nothing is due at creation, as with a new EventBridge rule
    now[0] = T0 + timedelta(minutes=5)
    first.tick()
    first.tick()
    assert ran == ["often"]
    # stopped for two days: after a restart each overdue rule runs once, not once per missed period
    now[0] = T0 + timedelta(days=2)
    second = make()
    second.tick()
    assert sorted(ran) == ["daily", "often", "often"]
    assert second.plan()["daily"] == "2026-11-27T12:00:00.000Z"


def test_scheduled_event_has_the_eventbridge_shape() -> None:
    event = scheduled_event("amr-service", "maintenance_purge", T0)
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["time"] == "2026-11-24T12:00:00Z"
    assert event["resources"][0].endswith(":rule/amr-service-local-maintenance_purge")


def test_discovery_finds_handlers_registered_on_the_app() -> None:
    app = Chalice("toy")
    seen: list[Any] = []

    @app.schedule(Rate(10, unit=Rate.MINUTES))
    def tidy(event: Any) -> str:
        seen.append(event.to_dict()["detail-type"])
        return "ok"

    @app.on_s3_event(bucket="b", prefix="inbox/", suffix=".fa")
    def dropped(event: Any) -> None:
        pass

    assert discovery.schedules(app) == [discovery.Schedule("tidy", "rate(10 minutes)", "")]
    (source,) = discovery.s3_sources(app)
    assert source.wants("s3:ObjectCreated:Post", "inbox/x.fa")
    assert not source.wants("s3:ObjectCreated:Put", "other/x.fa")
    assert not source.wants("s3:ObjectRemoved:Delete", "inbox/x.fa")
    assert discovery.invoke(app, "tidy", scheduled_event("toy", "tidy")) == "ok"
    assert seen == ["Scheduled Event"]


# ------------------------------------------------------------------ emulator


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator("127.0.0.1", _free_port())
    emu.start()
    _reset(emu)
    try:
        yield emu
    finally:
        _reset(emu)
        emu.stop()


def _reset(emu: Emulator) -> None:
    """moto keeps its state per process; start each test from nothing."""
    urllib.request.urlopen(urllib.request.Request(emu.url + "/moto-api/reset", method="POST"), timeout=10).read()


def _client(emu: Emulator, service: str) -> Any:
    return boto3.client(
        service, endpoint_url=emu.url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _wait(what: str, probe: Callable[[], Any], seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_change_tracker_tells_reads_from_writes() -> None:
    tracker = ChangeTracker(lambda environ, start: [b""])

    def call(method: str, path: str = "/", **headers: str) -> None:
        tracker({"REQUEST_METHOD": method, "PATH_INFO": path, "HTTP_HOST": "127.0.0.1:5000", **headers}, None)

    tracker.take()
    call("POST", HTTP_X_AMZ_TARGET="DynamoDB_20120810.Query")
    call("GET", "/bucket/key")
    call("POST", HTTP_X_AMZ_TARGET="AmazonSQS.ReceiveMessage")
    assert tracker.take().__dict__ == {"tables": False, "objects": False, "paths": set()}
    call("POST", HTTP_X_AMZ_TARGET="DynamoDB_20120810.TransactWriteItems")
    call("PUT", "/bucket/a key")
    changes = tracker.take()
    assert changes.tables and changes.objects and changes.paths == {"127.0.0.1:5000|/bucket/a key"}


def _names(event: dict[str, Any]) -> list[str]:
    return [r["eventName"] for r in event["Records"]]


def _toy_app(fail_times: int) -> tuple[Chalice, list[dict[str, Any]]]:
    app = Chalice("toy")
    calls: list[dict[str, Any]] = []

    @app.on_s3_event(bucket="inputs", events=["s3:ObjectCreated:*"], prefix="in/")
    def on_input(event: Any) -> None:
        calls.append(event.to_dict())
        if len(calls) <= fail_times:
            raise RuntimeError("transient failure")

    return app, calls


def _bridge(emu: Emulator, app: Chalice, **kwargs: Any) -> EventBridge:
    s3 = _client(emu, "s3")
    s3.create_bucket(Bucket="inputs")
    bridge = EventBridge(
        app,
        _client(emu, "sqs"),
        s3,
        discovery.s3_sources(app),
        "amr-toy",
        max_receives=3,
        workers=1,
        backoff=lambda attempt: 0,
        **kwargs,
    )
    bridge.wire()
    return bridge


def test_bridge_delivers_the_s3_notification_as_a_lambda_event(emulator: Emulator) -> None:
    app, calls = _toy_app(fail_times=0)
    bridge = _bridge(emulator, app)
    bridge.wire()  # idempotent
    bridge.start()
    try:
        s3 = _client(emulator, "s3")
        s3.put_object(Bucket="inputs", Key="in/a b.fa", Body=b">x\nACGT\n")
        s3.put_object(Bucket="inputs", Key="elsewhere/c.fa", Body=b">x\nACGT\n")  # outside the prefix
        _wait("one delivery", lambda: calls)
        # the other ways objects are created notify too (moto: copy and multipart completion)
        s3.copy_object(Bucket="inputs", Key="in/copy.fa", CopySource={"Bucket": "inputs", "Key": "in/a b.fa"})
        upload = s3.create_multipart_upload(Bucket="inputs", Key="in/multi.fa")
        part = s3.upload_part(
            Bucket="inputs", Key="in/multi.fa", UploadId=upload["UploadId"], PartNumber=1, Body=b">m\nA\n"
        )
        s3.complete_multipart_upload(
            Bucket="inputs",
            Key="in/multi.fa",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        )
        # moto 5.2 also sends an extra ObjectCreated:Put before CompleteMultipartUpload (AWS
        # does not): a duplicate, which at-least-once handlers must tolerate anyway
        _wait("the multipart event", lambda: any(_names(c) == ["ObjectCreated:CompleteMultipartUpload"] for c in calls))
        bridge_left = bridge.stop(5)
    finally:
        bridge.stop(0)
    assert bridge_left == 0
    assert {"ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload"} <= {n for c in calls for n in _names(c)}
    # the bucket's s3:TestEvent and the key outside the prefix never reach the handler
    assert all(r["s3"]["object"]["key"].startswith("in/") for c in calls for r in c["Records"])
    (record,) = calls[0]["Records"]
    assert record["eventSource"] == "aws:s3" and record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == "inputs"
    assert record["s3"]["object"]["key"] == "in/a+b.fa"  # URL-encoded, as AWS sends it
    assert "sequencer" in record["s3"]["object"] and "userIdentity" in record
    assert bridge.deliveries()["inputs"]["in/a b.fa"] == s3.head_object(Bucket="inputs", Key="in/a b.fa")["ETag"]
    assert set(bridge.deliveries()["inputs"]) == {"in/a b.fa", "in/copy.fa", "in/multi.fa"}


def test_a_failing_handler_is_retried_until_it_succeeds(emulator: Emulator) -> None:
    app, calls = _toy_app(fail_times=2)
    bridge = _bridge(emulator, app)
    bridge.start()
    try:
        _client(emulator, "s3").put_object(Bucket="inputs", Key="in/x.fa", Body=b">x\nACGT\n")
        _wait("the third attempt to succeed", lambda: bridge.deliveries())
    finally:
        bridge.stop(5)
    assert len(calls) == 3
    sqs = _client(emulator, "sqs")
    url = sqs.get_queue_url(QueueName=queue_name("amr-toy", "on_input"))["QueueUrl"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0" and counts["ApproximateNumberOfMessagesNotVisible"] == "0"


def _invoked_app(fail_times: int) -> tuple[Chalice, list[Any]]:
    app = Chalice("toy")
    calls: list[Any] = []

    @app.lambda_function(name="work")
    def work(event: Any, context: Any) -> str:
        calls.append(event)
        if len(calls) <= fail_times:
            raise RuntimeError("transient failure")
        return "done"

    return app, calls


@pytest.mark.parametrize(("fail_times", "expected_calls"), [(0, 1), (1, 2), (100, 3)])
def test_async_invocations_run_the_function_and_retry_twice_like_lambda(
    emulator: Emulator, fail_times: int, expected_calls: int
) -> None:
    from chalicelib.core.invoke import message
    from local.invoker import AsyncInvoker, ensure_queue

    app, calls = _invoked_app(fail_times)
    sqs = _client(emulator, "sqs")
    url = ensure_queue(sqs, f"amr-toy-invocations-{fail_times}")
    assert ensure_queue(sqs, f"amr-toy-invocations-{fail_times}") == url  # idempotent
    sqs.send_message(QueueUrl=url, MessageBody=message("work", {"run_id": "r1"}))
    invoker = AsyncInvoker(app, sqs, url, workers=1, backoff=lambda attempt: 0)
    invoker.start()
    try:
        def settled() -> bool:
            counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return len(calls) >= expected_calls and counts["ApproximateNumberOfMessages"] == "0" \
                and counts["ApproximateNumberOfMessagesNotVisible"] == "0"

        _wait("the invocation to settle", settled)
    finally:
        invoker.stop(5)
    assert calls == [{"run_id": "r1"}] * expected_calls


def test_a_handler_that_keeps_failing_ends_in_the_dead_letter_queue(emulator: Emulator) -> None:
    app, calls = _toy_app(fail_times=100)
    bridge = _bridge(emulator, app)
    sqs = _client(emulator, "sqs")
    dlq = sqs.get_queue_url(QueueName=queue_name("amr-toy", "on_input", dead_letter=True))["QueueUrl"]
    bridge.start()
    try:
        _client(emulator, "s3").put_object(Bucket="inputs", Key="in/bad.fa", Body=b"junk")

        def dead() -> bool:
            attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
            return attrs["Attributes"]["ApproximateNumberOfMessages"] == "1"

        _wait("the message in the dead-letter queue", dead)
    finally:
        bridge.stop(5)
    assert len(calls) == 3  # bounded: max_receives attempts, then no more
    body = json.loads(sqs.receive_message(QueueUrl=dlq)["Messages"][0]["Body"])
    assert unquote_plus(body["Records"][0]["s3"]["object"]["key"]) == "in/bad.fa"  # the original S3 message
    assert "in/bad.fa" in bridge.deliveries()["inputs"]  # given up on: not re-run after a restart


def test_redelivery_replays_unconfirmed_objects_to_matching_handlers_only(emulator: Emulator) -> None:
    app, calls = _toy_app(fail_times=0)
    bridge = _bridge(emulator, app)
    etag = '"0123456789abcdef0123456789abcdef"'
    sent = bridge.redeliver(
        [("inputs", "in/left over.fa", 7, etag), ("inputs", "other/x.fa", 1, etag), ("elsewhere", "in/y.fa", 1, etag)]
    )
    assert sent == 1
    bridge.start()
    try:
        _wait("the replayed event", lambda: calls)
    finally:
        bridge.stop(5)
    (record,) = calls[0]["Records"]
    assert record["eventName"] == "ObjectCreated:Put" and record["s3"]["object"]["key"] == "in/left+over.fa"
    assert record["s3"]["object"]["size"] == 7
    assert bridge.deliveries() == {"inputs": {"in/left over.fa": etag}}


# ------------------------------------------------------------------ snapshots


def _store(emu: Emulator, state_dir: Path, deliveries: Callable[[], Any] = dict) -> StateStore:
    return StateStore(
        state_dir,
        _client(emu, "dynamodb"),
        _client(emu, "s3"),
        ["things"],
        ["inputs", "outputs"],
        emu.tracker,
        deliveries,
    )


def _create_resources(emu: Emulator) -> None:
    ddb = _client(emu, "dynamodb")
    ddb.create_table(
        TableName="things",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3 = _client(emu, "s3")
    for bucket in ("inputs", "outputs"):
        s3.create_bucket(Bucket=bucket)


def test_snapshot_restores_items_objects_metadata_and_tags(emulator: Emulator, tmp_path: Path) -> None:
    _create_resources(emulator)
    ddb, s3 = _client(emulator, "dynamodb"), _client(emulator, "s3")
    item = {"pk": {"S": "a"}, "n": {"N": "3"}, "raw": {"B": b"\x00\xff"}, "m": {"M": {"l": {"L": [{"S": "x"}]}}}}
    ddb.put_item(TableName="things", Item=item)
    s3.put_object(
        Bucket="inputs",
        Key="in/one.fa",
        Body=b">1\nAC\n",
        ContentType="text/x-fasta",
        Metadata={"job-name": "first"},
        Tagging="amr-status=rejected",
    )
    big = b"A" * (5 * 1024 * 1024) + b"C" * 10
    upload = s3.create_multipart_upload(Bucket="outputs", Key="big.bin")
    parts = [
        s3.upload_part(Bucket="outputs", Key="big.bin", UploadId=upload["UploadId"], PartNumber=n, Body=chunk)
        for n, chunk in ((1, big[: 5 * 1024 * 1024]), (2, big[5 * 1024 * 1024 :]))
    ]
    s3.complete_multipart_upload(
        Bucket="outputs",
        Key="big.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": p["ETag"], "PartNumber": n} for n, p in enumerate(parts, 1)]},
    )
    s3.put_object(Bucket="inputs", Key="in/two.fa", Body=b">2\nGT\n")
    one_etag = s3.head_object(Bucket="inputs", Key="in/one.fa")["ETag"]
    store = _store(emulator, tmp_path, lambda: {"inputs": {"in/one.fa": one_etag}})
    assert store.save()
    assert not store.save()  # nothing changed: nothing written
    s3.put_object_tagging(
        Bucket="inputs", Key="in/one.fa", Tagging={"TagSet": [{"Key": "amr-status", "Value": "done"}]}
    )
    assert store.save()  # a tag change alone is noticed

    _reset(emulator)
    _create_resources(emulator)
    restored = _store(emulator, tmp_path).restore()

    assert restored.items == 1 and restored.objects == 3
    assert ddb.get_item(TableName="things", Key={"pk": {"S": "a"}})["Item"] == item
    one = s3.get_object(Bucket="inputs", Key="in/one.fa")
    assert one["Body"].read() == b">1\nAC\n" and one["ContentType"] == "text/x-fasta"
    assert one["Metadata"] == {"job-name": "first"}
    assert s3.get_object_tagging(Bucket="inputs", Key="in/one.fa")["TagSet"] == [{"Key": "amr-status", "Value": "done"}]
    assert s3.get_object(Bucket="outputs", Key="big.bin")["Body"].read() == big
    # delivered events stay delivered; the one never confirmed is handed back for redelivery
    assert set(restored.delivered["inputs"]) == {"in/one.fa"}
    assert [(b, k) for b, k, _size, _etag in restored.undelivered if b == "inputs"] == [("inputs", "in/two.fa")]


def test_snapshot_file_is_replaced_atomically_and_deleted_objects_free_their_blobs(
    emulator: Emulator, tmp_path: Path
) -> None:
    _create_resources(emulator)
    s3 = _client(emulator, "s3")
    s3.put_object(Bucket="outputs", Key="gone.txt", Body=b"bye")
    store = _store(emulator, tmp_path)
    store.save()
    blobs = list((tmp_path / "blobs").glob("*/*"))
    assert len(blobs) == 1
    s3.delete_object(Bucket="outputs", Key="gone.txt")
    store.save()
    assert list((tmp_path / "blobs").glob("*/*")) == []
    assert json.loads((tmp_path / "snapshot.json").read_text())["objects"]["outputs"] == {}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_concurrent_saves_do_not_interleave(emulator: Emulator, tmp_path: Path) -> None:
    _create_resources(emulator)
    ddb = _client(emulator, "dynamodb")
    store = _store(emulator, tmp_path)
    errors: list[BaseException] = []

    def writer() -> None:
        for i in range(30):
            ddb.put_item(TableName="things", Item={"pk": {"S": f"k{i}"}})

    def saver() -> None:
        try:
            for _ in range(10):
                store.save()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=saver), threading.Thread(target=saver)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    store.save()
    assert errors == []
    saved = json.loads((tmp_path / "snapshot.json").read_text())
    assert len(saved["tables"]["things"]) == 30
