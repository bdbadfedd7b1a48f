"""The notifier: table changes in, deliveries out (design §22).

Two stream handlers and one queue handler, all Lambda code:
- jobs stream: a job that entered `Completed` or `Error` is `job.completed` /
  `job.failed`; a job of a batch that ended makes the notifier check the batch's counts
  and, when nothing is left to run, mark the batch finished (a conditional write).
- batches stream: a batch marked finished is `batch.finished` (webhook and email).
- queue: each message names one delivery; the handler makes one attempt and, when it
  fails, queues the next one with the backoff delay, until the retry window closes.

An event becomes one delivery item per channel (conditional put keyed by the change), and
each new delivery one queue message, so a record streamed twice queues nothing new.
A stream batch whose handling fails is read again by Lambda: nothing is missed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from chalicelib.accounts import users
from chalicelib.batches import api as batches_api
from chalicelib.batches import store as batches
from chalicelib.core import aws, clock
from chalicelib.core.observability import count, logger
from chalicelib.core.settings import get_settings
from chalicelib.jobs import lifecycle, queries
from chalicelib.notifications import delivery, events, mail, store
from chalicelib.notifications.store import DELIVERED, EMAIL, FAILED, WEBHOOK, DeliveryKey

#: SQS holds a message back at most this long; longer waits are chained.
MAX_QUEUE_DELAY = 900
FINISHED = ("Completed", "Archived")


# --- stream handlers -----------------------------------------------------------


def on_job_records(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Handle a batch of jobs-stream records; returns what was done (for the log)."""
    done = {"events": 0, "deliveries": 0, "batches_finished": 0}
    for record in records:
        change = events.status_change(record)
        if change is None:
            continue
        new, old = change
        event = events.job_event(new)
        if event is not None:
            done["events"] += 1
            done["deliveries"] += publish(event)
        ended = new.get("status") in lifecycle.TERMINAL and old.get("status") not in lifecycle.TERMINAL
        if new.get("batch_id") and ended and check_batch(str(new["batch_id"]), str(new.get("status_changed_at", ""))):
            done["batches_finished"] += 1
    return done


def check_batch(batch_id: str, changed_at: str) -> bool:
    """Mark the batch finished if none of its jobs is Submitted or Running any more."""
    counts = batches.counts_of(batches.totals([batch_id])[batch_id])
    total = sum(counts.values())
    if not total or counts[lifecycle.SUBMITTED] or counts[lifecycle.RUNNING]:
        return False
    return batches.mark_finished(batch_id, total, changed_at or clock.now_iso())


def on_batch_records(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    done = {"events": 0, "deliveries": 0}
    for record in records:
        if record.get("eventName") != "MODIFY":
            continue
        new, old = events.image(record, "NewImage"), events.image(record, "OldImage")
        if not events.batch_finished(new, old):
            continue
        event = batch_event(new)
        if event is not None:
            done["events"] += 1
            done["deliveries"] += publish(event)
    return done


def batch_event(image: dict[str, Any]) -> events.Event | None:
    """`batch.finished` for a batch item marked finished: its counts as the API shows
    them and which antibiotics its samples resist."""
    try:
        batch = batches.get(str(image["batch_id"]))
    except Exception as exc:  # removed since: nothing to announce
        logger.info("finished batch no longer readable", extra={"batch_id": image.get("batch_id"), "error": repr(exc)})
        return None
    shown = batches_api.batch_out(batch, batches.totals([batch.batch_id])[batch.batch_id])
    shown["finished_at"] = str(image["finished_at"])
    subject = f"{batch.batch_id}:{int(image.get('finished_total') or 0)}"
    event = events.batch_event(shown, highlights(batch.batch_id))
    return events.Event(
        events.event_id(events.BATCH_FINISHED, subject, shown["finished_at"]),
        event.type,
        event.user_id,
        event.occurred_at,
        event.data,
    )


def highlights(batch_id: str) -> dict[str, Any]:
    """Antibiotics by number of resistant samples (from the jobs' summaries, no S3 read)."""
    resistant: dict[str, int] = {}
    failed: list[str] = []
    with_results = 0
    for job in queries.batch_jobs(batch_id):
        if job.status == lifecycle.ERROR:
            failed.append(job.job_name)
        if job.status not in FINISHED:
            continue
        with_results += 1
        summary = job.summary.as_dict() if job.summary is not None and hasattr(job.summary, "as_dict") else {}
        for name in dict.fromkeys(str(n) for n in summary.get("resistant", []) or []):
            resistant[name] = resistant.get(name, 0) + 1
    ranked = dict(sorted(resistant.items(), key=lambda kv: (-kv[1], kv[0])))
    return {"samples_with_results": with_results, "resistant_samples": ranked, "failed_samples": failed}


def publish(event: events.Event) -> int:
    """Record and queue the deliveries the event's owner asked for; returns how many."""
    settings_item = store.get_settings(event.user_id)
    if settings_item is None or event.type not in (settings_item.events or []):
        return 0
    targets: list[tuple[str, str]] = []
    if settings_item.webhook_url:
        targets.append((WEBHOOK, str(settings_item.webhook_url)))
    if settings_item.email and event.type == events.BATCH_FINISHED:
        user = users.get_user(event.user_id)
        if user is not None and user.email and user.is_active:
            targets.append((EMAIL, str(user.email)))
    queued = 0
    payload = event.body().decode()
    for channel, target in targets:
        key, created = store.create_delivery(
            user_id=event.user_id,
            event_id=event.id,
            event_type=event.type,
            occurred_at=event.occurred_at,
            channel=channel,
            target=target,
            payload=payload,
        )
        if created:
            enqueue(key, 0)
            queued += 1
            count(f"notifications.queued.{channel}")
    return queued


# --- the delivery queue ----------------------------------------------------------


def queue_url() -> str:
    return str(aws.client("sqs").get_queue_url(QueueName=get_settings().notifications_queue)["QueueUrl"])


def enqueue(key: DeliveryKey, delay_seconds: float) -> None:
    """Queue an attempt at a delivery in `delay_seconds` (capped by SQS; chained beyond)."""
    delay = max(0, min(MAX_QUEUE_DELAY, math.ceil(delay_seconds)))
    aws.client("sqs").send_message(QueueUrl=queue_url(), MessageBody=key.message(), DelaySeconds=delay)


def on_queue_messages(bodies: Iterable[str]) -> dict[str, int]:
    """Handle a batch of queue messages: one attempt (at most) per delivery named."""
    done: dict[str, int] = {}
    for body in bodies:
        try:
            key = DeliveryKey.from_message(body)
        except ValueError:
            logger.warning("dropping a notification message that names no delivery")
            continue
        result = attempt(key)
        done[result] = done.get(result, 0) + 1
    return done


def attempt(key: DeliveryKey) -> str:
    """One attempt at a delivery, if it is due; returns what happened."""
    item = store.get_delivery(key)
    if item is None or item.status in (DELIVERED, FAILED):
        return "done"
    now = clock.now()
    due = clock.parse_iso(str(item.next_attempt_at)) if item.next_attempt_at else now
    if due > now:  # a wait longer than SQS holds a message: wait on
        enqueue(key, (due - now).total_seconds())
        return "waiting"
    if not store.claim(item):
        return "busy"
    if item.channel == EMAIL:
        outcome = mail.send(str(item.target), str(item.payload))
    else:
        outcome = delivery.attempt_webhook(item, store.get_settings(key.user_id))
    when = delivery.settle(item, outcome)
    log = {
        "event_id": item.event_id,
        "channel": item.channel,
        "status_code": outcome.status_code,
        "error": outcome.error,
    }
    if outcome.ok:
        count(f"notifications.delivered.{item.channel}")
        logger.info("notification delivered", extra=log)
        return "delivered"
    if when is None:
        count(f"notifications.failed.{item.channel}")
        logger.warning("notification failed for good", extra=log)
        return "failed"
    enqueue(key, (clock.parse_iso(when) - clock.now()).total_seconds())
    logger.info("notification attempt failed; retrying", extra={**log, "next_attempt_at": when})
    return "retrying"
