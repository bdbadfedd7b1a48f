"""Asynchronous invocations on the local stack: Lambda's async queue, emulated.

In AWS, `chalicelib.core.invoke.invoke_async` asks Lambda to run one of the app's pure
functions later (`InvocationType=Event`). Locally no function name is configured, so the
same event lands on an SQS queue in the emulator; this worker drains it and calls the
app's handler with the event, as Lambda would. Like Lambda, a failed invocation is
retried (twice, after a short backoff) and then dropped with an error in the log.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice

from local.discovery import invoke

log = logging.getLogger("local.invoker")

POLL_SECONDS = 1
ATTEMPTS = 3  # Lambda: the first try and two retries
VISIBILITY_SECONDS = 900


def ensure_queue(sqs: Any, name: str) -> str:
    """The queue's URL, creating it if needed (idempotent)."""
    return str(sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(VISIBILITY_SECONDS)})["QueueUrl"])


def deliver(app: Chalice, body: str) -> tuple[str, Any]:
    """Call the handler one queued invocation names; returns (function, result)."""
    message = json.loads(body)
    function, payload = message["function"], message["payload"]
    return function, invoke(app, function, payload)


def drain(app: Chalice, sqs: Any, url: str) -> list[tuple[str, Any]]:
    """Run every invocation queued now, one after another (tests and `--once` use it)."""
    done: list[tuple[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return done
        for message in messages:
            done.append(deliver(app, message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


class AsyncInvoker:
    """Worker threads that run queued invocations until stopped."""

    def __init__(
        self, app: Chalice, sqs: Any, url: str, workers: int = 2, backoff: Callable[[int], int] | None = None
    ) -> None:
        self._backoff = backoff or (lambda attempt: 2**attempt)
        self._app = app
        self._sqs = sqs
        self._url = url
        self._workers = workers
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"invoker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                response = self._sqs.receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=POLL_SECONDS,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
            except Exception as exc:  # emulator going away at shutdown, or a hiccup
                if not self._stop.is_set():
                    log.warning("receiving invocations failed: %r", exc)
                    self._stop.wait(1.0)
                continue
            for message in response.get("Messages", []):
                self._run(message)

    def _run(self, message: dict[str, Any]) -> None:
        receipt = message["ReceiptHandle"]
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            function, result = deliver(self._app, message["Body"])
        except Exception:
            log.exception("asynchronous invocation failed (attempt %d of %d)", attempt, ATTEMPTS)
            if attempt < ATTEMPTS:
                self._sqs.change_message_visibility(
                    QueueUrl=self._url, ReceiptHandle=receipt, VisibilityTimeout=self._backoff(attempt)
                )
                return
            log.error("giving up on an asynchronous invocation after %d attempts", attempt)
        else:
            log.info("asynchronous invocation of %s done: %s", function, result)
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=receipt)
