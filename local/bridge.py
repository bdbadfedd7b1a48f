"""Event bridge: S3 notifications → SQS inside the emulator → the app's S3 handlers.

Wiring mirrors AWS: each `@app.on_s3_event` handler gets a queue (with a dead-letter queue)
and a `QueueConfiguration` on its bucket with the handler's events, prefix and suffix, so
the emulator's S3 itself decides what to notify. The notification body S3 puts on the
queue *is* the Lambda event (`{"Records": [...]}`); the bridge completes the few record
fields moto leaves out and calls the handler as Lambda would.

Delivery is at least once: a message is deleted only after the handler returns. When it
raises, the message becomes visible again after a short backoff and is retried; after
`max_receives` attempts it is left to the queue's redrive policy, which moves it to the
dead-letter queue (inspect it with any SQS client against the emulator).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from chalice.app import Chalice

from local.config import ACCOUNT_ID, REGION
from local.discovery import S3Source, invoke
from local.state import Deliveries

log = logging.getLogger("local.bridge")

VISIBILITY_SECONDS = 900  # Lambda's longest run: a running handler never sees its message twice
POLL_SECONDS = 1  # long-poll wait; also how quickly workers notice shutdown
MAX_BACKOFF_SECONDS = 30


def queue_name(stage_prefix: str, source_name: str, dead_letter: bool = False) -> str:
    """SQS names allow 80 characters of [A-Za-z0-9_-]."""
    base = re.sub(r"[^A-Za-z0-9_-]", "-", f"{stage_prefix}-s3-{source_name}")[:70]
    return f"{base}-dlq" if dead_letter else base


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"


def event_key(key: str) -> str:
    """A key as S3 events carry it: URL-encoded, spaces as '+', slashes kept."""
    return quote_plus(key, safe="/")


def complete_record(record: dict[str, Any]) -> dict[str, Any]:
    """Add the fields of an AWS S3 event record that moto omits (values are local stand-ins)."""
    out = json.loads(json.dumps(record))
    out.setdefault("eventVersion", "2.1")
    out.setdefault("eventSource", "aws:s3")
    out.setdefault("awsRegion", REGION)
    out.setdefault("userIdentity", {"principalId": "local"})
    out.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
    out.setdefault("responseElements", {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": "local"})
    s3 = out.setdefault("s3", {})
    s3.setdefault("s3SchemaVersion", "1.0")
    bucket = s3.setdefault("bucket", {})
    bucket.setdefault("ownerIdentity", {"principalId": "local"})
    if "name" in bucket:
        bucket.setdefault("arn", f"arn:aws:s3:::{bucket['name']}")
    obj = s3.setdefault("object", {})
    obj.setdefault("sequencer", f"{time.time_ns():016X}")
    if isinstance(obj.get("key"), str):  # moto encodes '/' too; AWS keeps it: same key once decoded
        obj["key"] = event_key(unquote_plus(obj["key"]))
    return out


def created_record(bucket: str, key: str, size: int, etag: str, configuration_id: str) -> dict[str, Any]:
    """An `ObjectCreated:Put` record, for objects whose event must be delivered again."""
    return complete_record(
        {
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "eventName": "ObjectCreated:Put",
            "s3": {
                "configurationId": configuration_id,
                "bucket": {"name": bucket},
                "object": {"key": event_key(key), "size": size, "eTag": etag.strip('"')},
            },
        }
    )


class EventBridge:
    """Owns the queues and the worker threads that feed the app's S3 handlers."""

    def __init__(
        self,
        app: Chalice,
        sqs: Any,
        s3: Any,
        sources: list[S3Source],
        stage_prefix: str,
        max_receives: int,
        workers: int,
        delivered: Deliveries | None = None,
        backoff: Callable[[int], int] | None = None,
    ) -> None:
        self._app = app
        self._sqs = sqs
        self._s3 = s3
        self._sources = sources
        self._prefix = stage_prefix
        self._max_receives = max_receives
        self._workers = workers
        self._urls: dict[str, str] = {}
        self._delivered: Deliveries = {b: dict(k) for b, k in (delivered or {}).items()}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._backoff = backoff or (lambda attempt: min(2**attempt, MAX_BACKOFF_SECONDS))

    # ------------------------------------------------------------------ wiring

    def wire(self) -> dict[str, str]:
        """Create queues and bucket notifications (idempotent); returns handler -> queue URL."""
        for source in self._sources:
            self._queue(queue_name(self._prefix, source.name, dead_letter=True), {})
            redrive = {
                "deadLetterTargetArn": queue_arn(queue_name(self._prefix, source.name, dead_letter=True)),
                "maxReceiveCount": str(self._max_receives),
            }
            self._urls[source.name] = self._queue(
                queue_name(self._prefix, source.name),
                {"VisibilityTimeout": str(VISIBILITY_SECONDS), "RedrivePolicy": json.dumps(redrive)},
            )
        for bucket in sorted({s.bucket for s in self._sources}):
            configs = [self._queue_configuration(s) for s in self._sources if s.bucket == bucket]
            self._s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configs}
            )
        return dict(self._urls)

    def _queue(self, name: str, attributes: dict[str, str]) -> str:
        try:
            url = str(self._sqs.get_queue_url(QueueName=name)["QueueUrl"])
            if attributes:
                self._sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
            return url
        except self._sqs.exceptions.QueueDoesNotExist:
            return str(self._sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])

    def _queue_configuration(self, source: S3Source) -> dict[str, Any]:
        config: dict[str, Any] = {
            "Id": source.name,
            "QueueArn": queue_arn(queue_name(self._prefix, source.name)),
            "Events": list(source.events),
        }
        rules = [{"Name": n, "Value": v} for n, v in (("prefix", source.prefix), ("suffix", source.suffix)) if v]
        if rules:
            config["Filter"] = {"Key": {"FilterRules": rules}}
        return config

    def redeliver(self, objects: list[tuple[str, str, int, str]]) -> int:
        """Queue created-events again for objects whose delivery was not confirmed."""
        sent = 0
        for bucket, key, size, etag in objects:
            for source in self._sources:
                if source.bucket == bucket and source.wants("s3:ObjectCreated:Put", key):
                    body = {"Records": [created_record(bucket, key, size, etag, source.name)]}
                    self._sqs.send_message(QueueUrl=self._urls[source.name], MessageBody=json.dumps(body))
                    sent += 1
        return sent

    # --------------------------------------------------------------- delivery

    def deliveries(self) -> Deliveries:
        """Objects whose created-event was handled (or given up on), for the snapshot."""
        with self._lock:
            return {b: dict(k) for b, k in self._delivered.items()}

    def start(self) -> None:
        for source in self._sources:
            for n in range(self._workers):
                thread = threading.Thread(
                    target=self._work, args=(source,), name=f"bridge-{source.name}-{n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def stop(self, drain_seconds: float) -> int:
        """Stop polling, wait up to `drain_seconds` for running handlers; returns how many still run."""
        self._stop.set()
        deadline = time.monotonic() + max(drain_seconds, POLL_SECONDS + 1)
        if self._busy:
            log.warning("waiting up to %.0f s for %d running event handler(s)", drain_seconds, self._busy)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(t.is_alive() for t in self._threads)

    def _work(self, source: S3Source) -> None:
        url = self._urls[source.name]
        while not self._stop.is_set():
            try:
                response = self._sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=POLL_SECONDS,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
            except Exception as exc:  # emulator going away at shutdown, or a hiccup
                if not self._stop.is_set():
                    log.warning("receiving from %s failed: %r", url, exc)
                    self._stop.wait(1.0)
                continue
            for message in response.get("Messages", []):
                with self._lock:
                    self._busy += 1
                try:
                    self._deliver(source, url, message)
                finally:
                    with self._lock:
                        self._busy -= 1

    def _deliver(self, source: S3Source, url: str, message: dict[str, Any]) -> None:
        receipt = message["ReceiptHandle"]
        try:
            body = json.loads(message["Body"])
        except ValueError:
            log.error("dropping a message that is not JSON from %s", url)
            self._sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)
            return
        if (
            not isinstance(body, dict)
            or body.get("Event") == "s3:TestEvent"
            or not isinstance(body.get("Records"), list)
        ):
            self._sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)  # S3's wiring test, or noise
            return
        event = {"Records": [complete_record(r) for r in body["Records"]]}
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        names = ", ".join(
            f"{r.get('eventName')} {unquote_plus(r['s3']['object'].get('key', ''))}" for r in event["Records"]
        )
        started = time.monotonic()
        try:
            invoke(self._app, source.name, event)
        except Exception:
            log.exception("handler %s failed on %s (attempt %d of %d)", source.name, names, attempt, self._max_receives)
            if attempt >= self._max_receives:
                log.error(
                    "giving up on %s after %d attempts; the message goes to the dead-letter queue", names, attempt
                )
                self._confirm(event)
                self._sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
            else:
                self._sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=self._backoff(attempt)
                )
            return
        self._confirm(event)
        self._sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)
        log.info("delivered %s to %s in %.2f s", names, source.name, time.monotonic() - started)

    def _confirm(self, event: dict[str, Any]) -> None:
        with self._lock:
            for record in event["Records"]:
                if str(record.get("eventName", "")).startswith("ObjectCreated"):
                    s3 = record["s3"]
                    key = unquote_plus(s3["object"]["key"])
                    self._delivered.setdefault(s3["bucket"]["name"], {})[key] = f'"{s3["object"].get("eTag", "")}"'
