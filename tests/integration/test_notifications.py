"""Notifications (design §22) through the Chalice test client on moto: settings, streams,
signed webhooks to a receiver on 127.0.0.1, retries with backoff, batch email."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.core.clock import FakeClock, parse_iso
from chalicelib.jobs import lifecycle as jobs
from chalicelib.jobs import queries
from chalicelib.notifications import notifier, store
from local.receiver import Receiver, verify_signature


@pytest.fixture(autouse=True)
def verified_sender(aws_env: None) -> None:
    """SES (moto) sends only from a verified address, as in AWS."""
    from chalicelib.core.settings import get_settings

    aws.client("ses").verify_email_identity(EmailAddress=get_settings().mail_sender)


SUMMARY = {"species": "Klebsiella pneumoniae", "genes": 1, "gene_names": ["blaKPC-2"], "resistant": ["meropenem"]}


def put_settings(client: Any, headers: dict[str, str], **body: Any) -> Any:
    return client.http.put("/account/notifications", headers=headers, body=json.dumps(body))


def subscribe(client: Any, headers: dict[str, str], url: str, **extra: Any) -> str:
    response = put_settings(client, headers, webhook_url=url, **extra)
    assert response.status_code == 200, response.body
    secret = response.json_body["secret"]
    assert secret and secret.startswith("whsec_")
    return str(secret)


def new_job(client: Any, headers: dict[str, str], name: str = "isolate-1") -> str:
    response = client.http.post("/jobs", headers=headers, body=json.dumps({"job_name": name}))
    assert response.status_code == 201, response.body
    return str(response.json_body["job"]["job_id"])


def complete(job_id: str, summary: dict[str, Any] | None = None) -> None:
    jobs.transition(job_id, jobs.RUNNING)
    jobs.transition(job_id, jobs.COMPLETED, summary=summary or SUMMARY)


def deliveries(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.http.get("/account/notifications/deliveries", headers=headers)
    assert response.status_code == 200, response.body
    return list(response.json_body["deliveries"])


def test_settings_round_trip_and_the_secret_is_shown_once(client: Any, make_user: Any) -> None:
    _, headers = make_user()
    empty = client.http.get("/account/notifications", headers=headers).json_body
    assert empty["webhook_url"] is None and empty["events"] == list(store.EVENTS)
    secret = subscribe(client, headers, "http://127.0.0.1:9/hook", events=["job.failed"], email=True)
    shown = client.http.get("/account/notifications", headers=headers).json_body
    assert shown["secret"] is None and shown["secret_hint"] == f"…{secret[-4:]}"
    assert shown["events"] == ["job.failed"] and shown["email"] is True
    again = put_settings(client, headers, webhook_url="http://127.0.0.1:9/other").json_body
    assert again["secret"] is None and again["secret_hint"] == shown["secret_hint"]  # kept, not shown
    rotated = client.http.post("/account/notifications/secret", headers=headers).json_body
    assert rotated["secret"] != secret and rotated["previous_secret_expires_at"]


@pytest.mark.parametrize(
    "body, problem",
    [
        ({"webhook_url": "ftp://example.org/x"}, "https"),
        ({"webhook_url": "https://user:pw@example.org/x"}, "credentials"),
        ({"webhook_url": "https://10.1.2.3/hook"}, "private"),
        ({"webhook_url": "https://169.254.169.254/latest/meta-data/"}, "link-local"),
        ({"webhook_url": "https://[::ffff:192.168.0.1]/hook"}, "private"),
        ({"events": ["job.started"]}, "events"),
        ({"email": "yes"}, "email"),
        ({"webhook_url": "https://example.org", "colour": "red"}, "colour"),
    ],
)
def test_bad_settings_are_400_naming_the_problem(
    client: Any, make_user: Any, body: dict[str, Any], problem: str
) -> None:
    _, headers = make_user()
    response = put_settings(client, headers, **body)
    assert response.status_code == 400, response.body
    assert problem in json.dumps(response.json_body)


def test_rotating_without_settings_is_404_and_routes_need_a_token(client: Any, make_user: Any) -> None:
    _, headers = make_user()
    assert client.http.post("/account/notifications/secret", headers=headers).status_code == 404
    assert client.http.get("/account/notifications").status_code == 401


def test_a_completed_job_is_one_signed_delivery(
    client: Any, make_user: Any, run_notifications: Any, fake_clock: FakeClock
) -> None:
    _, headers = make_user()
    with Receiver() as receiver:
        secret = subscribe(client, headers, receiver.url)
        job_id = new_job(client, headers)
        complete(job_id)
        run_notifications()
        run_notifications()  # nothing new: no second delivery
    (hit,) = receiver.received
    assert verify_signature(secret, hit.headers["AMR-Signature"], hit.body, now=fake_clock().timestamp())
    assert not verify_signature("whsec_wrong", hit.headers["AMR-Signature"], hit.body, now=fake_clock().timestamp())
    event = json.loads(hit.body)
    assert event["type"] == "job.completed" and hit.headers["AMR-Event-Type"] == "job.completed"
    assert event["id"] == hit.headers["AMR-Event-Id"] and event["id"].startswith("evt_")
    assert event["data"]["job"]["job_id"] == job_id and event["data"]["job"]["summary"]["resistant"] == ["meropenem"]
    (logged,) = deliveries(client, headers)
    assert logged["status"] == "delivered" and logged["last_status_code"] == 200 and logged["attempts"] == 1


def test_a_change_streamed_twice_is_delivered_once(client: Any, make_user: Any, run_notifications: Any) -> None:
    user_id, headers = make_user()
    with Receiver() as receiver:
        subscribe(client, headers, receiver.url)
        job_id = new_job(client, headers)
        complete(job_id)
        record = {
            "eventName": "MODIFY",
            "dynamodb": {
                "NewImage": {
                    "job_id": {"S": job_id},
                    "user_id": {"S": user_id},
                    "status": {"S": "Completed"},
                    "status_changed_at": {"S": queries.get_job(job_id).status_changed_at},
                },
                "OldImage": {"job_id": {"S": job_id}, "status": {"S": "Running"}},
            },
        }
        run_notifications()
        assert notifier.on_job_records([record]) == {"events": 1, "deliveries": 0, "batches_finished": 0}
        run_notifications()
    assert len(receiver.received) == 1


def test_a_failing_receiver_gets_the_same_event_again_with_backoff(
    client: Any, make_user: Any, run_notifications: Any, fake_clock: FakeClock
) -> None:
    user_id, headers = make_user()
    with Receiver(statuses=[500, 503]) as receiver:
        subscribe(client, headers, receiver.url)
        job_id = new_job(client, headers)
        jobs.transition(job_id, jobs.RUNNING)
        jobs.transition(job_id, jobs.ERROR, error="Input is not FASTA (line 1)")
        run_notifications()  # attempt 1: 500
        (logged,) = deliveries(client, headers)
        assert logged["status"] == "retrying" and logged["last_status_code"] == 500
        key = store.DeliveryKey(user_id, (store.list_deliveries(user_id)[0][0]).sk)
        assert notifier.attempt(key) == "waiting"  # not due yet: queued again, nothing sent
        fake_clock.advance(seconds=10)
        assert notifier.attempt(key) == "retrying"  # attempt 2: 503, next in 40 s
        fake_clock.advance(seconds=40)
        assert notifier.attempt(key) == "delivered"  # attempt 3
        assert notifier.attempt(key) == "done"
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["job.failed"] * 3
    assert len({r.headers["AMR-Event-Id"] for r in receiver.received}) == 1
    assert [r.headers["AMR-Delivery-Attempt"] for r in receiver.received] == ["1", "2", "3"]
    (logged,) = deliveries(client, headers)
    assert [a["status_code"] for a in logged["attempt_log"]] == [500, 503, 200]
    assert [a["at"][11:19] for a in logged["attempt_log"]] == ["12:00:00", "12:00:10", "12:00:50"]


def test_a_receiver_that_never_answers_is_failed_after_a_day(
    client: Any, make_user: Any, run_notifications: Any, fake_clock: FakeClock
) -> None:
    user_id, headers = make_user()
    with Receiver(statuses=[500] * 100) as receiver:
        subscribe(client, headers, receiver.url)
        complete(new_job(client, headers))
        run_notifications()
        key = store.DeliveryKey(user_id, (store.list_deliveries(user_id)[0][0]).sk)
        results, waits = [], []
        for _ in range(30):
            due = parse_iso(str(store.get_delivery(key).next_attempt_at))  # type: ignore[union-attr]
            waits.append(round((due - fake_clock()).total_seconds()))
            fake_clock.current = due
            results.append(notifier.attempt(key))
            if results[-1] == "failed":
                break
    assert results[-1] == "failed"
    (item,) = store.list_deliveries(user_id)[0]  # (the token has expired meanwhile)
    assert item.status == "failed" and item.next_attempt_at is None
    assert item.attempts == 12 and len(receiver.received) == 12
    assert waits == [10, 40, 160, 640, 2560, 10240, 14400, 14400, 14400, 14400, 14400]  # base x4, capped at 4 h


def test_a_batch_is_one_batch_finished_and_one_email(client: Any, make_user: Any, run_notifications: Any) -> None:
    _, headers = make_user()
    samples = [{"name": f"s{i}", "filename": f"s{i}.fasta"} for i in range(3)]
    with Receiver() as receiver:
        subscribe(client, headers, receiver.url, email=True, events=["batch.finished"])
        created = client.http.post(
            "/batches", headers=headers, body=json.dumps({"batch_name": "run 42", "samples": samples})
        )
        assert created.status_code == 201, created.body
        ids = [j["job"]["job_id"] for j in created.json_body["jobs"]]
        complete(ids[0])
        complete(ids[1], {"resistant": ["meropenem", "ampicillin"]})
        run_notifications()
        assert receiver.received == []  # one sample still runs
        jobs.transition(ids[2], jobs.RUNNING)
        jobs.transition(ids[2], jobs.ERROR, error="bad input")
        run_notifications()
        run_notifications()
    (hit,) = receiver.received
    event = json.loads(hit.body)
    assert event["type"] == "batch.finished"
    batch = event["data"]["batch"]
    assert batch["counts"]["Completed"] == 2 and batch["counts"]["Error"] == 1 and batch["total"] == 3
    assert batch["highlights"]["resistant_samples"] == {"meropenem": 2, "ampicillin": 1}
    assert batch["highlights"]["failed_samples"] == ["s2"]
    sent = sent_emails()
    assert len(sent) == 1 and "run 42" in sent[0]["Subject"] and "meropenem: 2 of 2" in sent[0]["Body"]
    channels = sorted(d["channel"] for d in deliveries(client, headers))
    assert channels == ["email", "webhook"]


def sent_emails() -> list[dict[str, Any]]:
    """What moto's SES accepted (its backend keeps sent messages)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID][aws.client("ses").meta.region_name]
    return [{"Subject": m.subject, "Body": m.body, "To": m.destinations} for m in backend.sent_messages]


def test_events_not_chosen_are_not_sent_and_cancelled_jobs_are_quiet(
    client: Any, make_user: Any, run_notifications: Any
) -> None:
    _, headers = make_user()
    with Receiver() as receiver:
        subscribe(client, headers, receiver.url, events=["job.failed"])
        complete(new_job(client, headers))
        jobs.transition(new_job(client, headers, "b"), jobs.CANCELLED)
        run_notifications()
    assert receiver.received == []
