"""End to end (design §22): the local stack reads its tables' streams and delivers signed
webhooks for real to a receiver on 127.0.0.1; retries reach it with the same event id."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.client import post_form
from local.receiver import Receiver, verify_signature
from tests.e2e.localstack import GENOME, JOB_SECONDS, Stack, free_port, job_when, needs_db, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_db]


class NotifyingStack(Stack):
    def env(self) -> dict[str, str]:
        return {**super().env(), "AMR_NOTIFY_RETRY_BASE_SECONDS": "1"}  # retries after 1 s, 4 s, ...


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("notify-stack")
    running = NotifyingStack(state_dir=root / "state", api_port=free_port(), emulator_port=free_port(), log_dir=root)
    try:
        running.start()
        yield running
    finally:
        running.kill()


@pytest.fixture(scope="module")
def token(stack: Stack) -> str:
    reply = stack.http(
        "POST", "/auth/register", {"username": "hooked", "password": "hook-password-1", "email": "hooked@example.org"}
    )
    assert reply.status == 201, reply
    return stack.login("hooked", "hook-password-1")


def subscribe(stack: Stack, token: str, url: str, **extra: Any) -> str:
    reply = stack.http("PUT", "/account/notifications", {"webhook_url": url, **extra}, token=token)
    assert reply.status == 200, reply
    return str(reply.body["secret"] or "")


def submit(stack: Stack, token: str, name: str) -> str:
    created = stack.http("POST", "/jobs", {"job_name": name, "filename": "isolate.fa.gz"}, token=token)
    assert created.status == 201, created
    upload = created.body["upload"]
    assert post_form(upload["url"], upload["fields"], "isolate.fa.gz", GENOME.read_bytes()) in (200, 201, 204)
    return str(created.body["job"]["job_id"])


def show(hit: Any, note: Path) -> None:
    """Keep what the receiver got (for the record of a run: `pytest -s` prints it)."""
    text = "\n".join(f"{k}: {v}" for k, v in hit.headers.items()) + "\n\n" + hit.body.decode()
    note.write_text(text)
    print(text)


def test_a_completed_job_is_one_signed_delivery(stack: Stack, token: str) -> None:
    with Receiver() as receiver:
        secret = subscribe(stack, token, receiver.url, events=["job.completed", "job.failed"])
        stack.shared["secret"] = secret
        job_id = submit(stack, token, "notified isolate")
        job_when(stack, token, job_id, {"Completed", "Error"})
        wait_until("one delivery", lambda: receiver.received, JOB_SECONDS)
        time.sleep(2)  # anything more would arrive within this (at-least-once, not twice here)
    (hit,) = receiver.received
    assert verify_signature(secret, hit.headers["AMR-Signature"], hit.body)
    event = json.loads(hit.body)
    assert event["type"] == "job.completed" and event["data"]["job"]["job_id"] == job_id
    assert event["data"]["job"]["links"]["api"] == f"{stack.api}/jobs/{job_id}"
    show(hit, stack.log_dir / "delivery.txt")
    (logged,) = stack.http("GET", "/account/notifications/deliveries", token=token).body["deliveries"]
    assert logged["status"] == "delivered" and logged["event_id"] == event["id"]


def test_a_receiver_failing_twice_gets_the_same_event_a_third_time(stack: Stack, token: str) -> None:
    with Receiver(statuses=[500, 502]) as receiver:
        subscribe(stack, token, receiver.url)
        job_id = submit(stack, token, "retried isolate")
        job_when(stack, token, job_id, {"Completed", "Error"})
        wait_until("three attempts", lambda: len(receiver.received) >= 3, JOB_SECONDS)
        time.sleep(2)
    assert len(receiver.received) == 3
    ids = {r.headers["AMR-Event-Id"] for r in receiver.received}
    assert len(ids) == 1
    assert all(verify_signature(stack.shared["secret"], r.headers["AMR-Signature"], r.body) for r in receiver.received)
    gaps = [round(b.at - a.at, 1) for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
    print("attempts at +0 s, then gaps", gaps)
    assert gaps[0] >= 0.9 and gaps[1] >= 3.9  # base 1 s, then 4 s
    deliveries = stack.http("GET", "/account/notifications/deliveries", token=token).body["deliveries"]
    retried = next(d for d in deliveries if d["event_id"] in ids)
    assert [a["status_code"] for a in retried["attempt_log"]] == [500, 502, 200]
    print(json.dumps(retried, indent=1))


def test_a_batch_is_one_batch_finished(stack: Stack, token: str) -> None:
    with Receiver() as receiver:
        subscribe(stack, token, receiver.url, events=["batch.finished"], email=True)
        samples = [{"name": "a", "filename": "a.fa.gz"}, {"name": "b", "filename": "b.fa.gz"}]
        created = stack.http("POST", "/batches", {"batch_name": "hooked run", "samples": samples}, token=token)
        assert created.status == 201, created
        for opened in created.body["jobs"]:
            upload = opened["upload"]
            assert post_form(upload["url"], upload["fields"], "x.fa.gz", GENOME.read_bytes()) in (200, 201, 204)
        wait_until("batch.finished", lambda: receiver.received, JOB_SECONDS * 2)
        time.sleep(2)
    (hit,) = receiver.received
    event = json.loads(hit.body)
    assert event["type"] == "batch.finished" and event["data"]["batch"]["counts"]["Completed"] == 2
    deliveries = stack.http("GET", "/account/notifications/deliveries", token=token).body["deliveries"]
    email = [d for d in deliveries if d["channel"] == "email"]
    assert len(email) == 1 and email[0]["status"] == "delivered", email


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/hook",
        "https://10.0.0.7/hook",
        "https://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/",
    ],
)
def test_unsafe_urls_are_refused(stack: Stack, token: str, url: str) -> None:
    reply = stack.http("PUT", "/account/notifications", {"webhook_url": url}, token=token)
    assert reply.status == 400 and reply.body["error"]["code"] == "validation_error", reply
