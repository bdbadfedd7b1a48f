"""The notification delivery queue on the local stack, as Lambda's SQS trigger runs it.

`@app.on_sqs_message` handlers are called with SQS-shaped events; a message is deleted
once the handler returned, and one whose handler raised becomes visible again after a
short backoff until `MAX_RECEIVES`, when the queue's redrive policy moves it to the
dead-letter queue — the same contract as the deployed queue in `infra/`.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from chalice.app import Chalice, SQSEventConfig

from local.bridge import queue_arn
from local.discovery import invoke

log = logging.getLogger("local.notify")

POLL_SECONDS = 1
VISIBILITY_SECONDS = 60
MAX_RECEIVES = 5


def handler_for(app: Chalice, queue: str) -> str:
    """The name of the app's `@app.on_sqs_message` handler of `queue`."""
    for source in app.event_sources:
        if isinstance(source, SQSEventConfig) and source.queue == queue:
            return str(source.name)
    raise LookupError(f"no @app.on_sqs_message handler for queue {queue}")


def sqs_event(messages: list[dict[str, Any]], queue: str) -> dict[str, Any]:
    """Messages as Lambda's SQS trigger hands them over."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn(queue),
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


class NotificationQueue:
    def __init__(self, app: Chalice, sqs: Any, queue: str) -> None:
        self._app = app
        self._sqs = sqs
        self._queue = queue
        self._handler = handler_for(app, queue)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.url = ""

    def wire(self) -> str:
        """The queue and its dead-letter queue (idempotent)."""
        dlq = f"{self._queue}-dlq"
        self._sqs.create_queue(QueueName=dlq)
        redrive = {"deadLetterTargetArn": queue_arn(dlq), "maxReceiveCount": str(MAX_RECEIVES)}
        attributes = {"VisibilityTimeout": str(VISIBILITY_SECONDS), "RedrivePolicy": json.dumps(redrive)}
        try:
            self.url = str(self._sqs.get_queue_url(QueueName=self._queue)["QueueUrl"])
            self._sqs.set_queue_attributes(QueueUrl=self.url, Attributes=attributes)
        except self._sqs.exceptions.QueueDoesNotExist:
            self.url = str(self._sqs.create_queue(QueueName=self._queue, Attributes=attributes)["QueueUrl"])
        return self.url

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="notifications", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                response = self._sqs.receive_message(
                    QueueUrl=self.url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=POLL_SECONDS,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
            except Exception as exc:  # emulator going away at shutdown, or a hiccup
                if not self._stop.is_set():
                    log.warning("receiving notifications failed: %r", exc)
                    self._stop.wait(1.0)
                continue
            messages = response.get("Messages", [])
            if messages:
                self._run(messages)

    def _run(self, messages: list[dict[str, Any]]) -> None:
        try:
            result = invoke(self._app, self._handler, sqs_event(messages, self._queue))
        except Exception:
            log.exception("notification delivery handler failed; the messages are retried")
            for m in messages:
                attempt = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                self._sqs.change_message_visibility(
                    QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=min(2**attempt, 30)
                )
            return
        log.info("notification deliveries: %s", result)
        for m in messages:
            self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
