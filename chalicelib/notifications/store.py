"""The notifications table: a user's settings and delivery log (design §22).

Every read is a GetItem or a Query of the user's partition; the notifier finds a job
owner's settings with one GetItem. Writes that may race (the same change streamed twice,
two queue messages for one delivery) are conditional, so each is done once.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.core import clock, pagination
from chalicelib.core.aws import storage_call
from chalicelib.core.tables import NotificationModel
from chalicelib.notifications import signing

SETTINGS = "settings"
DELIVERY = "delivery#"
EVENTS = ("job.completed", "job.failed", "batch.finished")
WEBHOOK, EMAIL = "webhook", "email"
PENDING, RETRYING, DELIVERED, FAILED = "pending", "retrying", "delivered", "failed"
#: Deliveries stay readable this long, then DynamoDB's TTL removes them.
KEEP_DELIVERIES = timedelta(days=30)
#: Attempts kept in a delivery's log (the count keeps growing).
MAX_LOGGED_ATTEMPTS = 20
#: A claimed delivery is another worker's for this long (longer than one attempt takes).
LEASE = timedelta(seconds=60)


def pk(user_id: str) -> str:
    return f"user#{user_id}"


def _is_condition_failure(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


# --- settings ----------------------------------------------------------------


@storage_call("get_notification_settings")
def get_settings(user_id: str) -> NotificationModel | None:
    try:
        return NotificationModel.get(pk(user_id), SETTINGS, consistent_read=True)
    except DoesNotExist:
        return None


@storage_call("put_notification_settings")
def put_settings(
    user_id: str, *, webhook_url: str | None, email: bool, events: list[str]
) -> tuple[NotificationModel, str | None]:
    """Create or replace a user's settings; returns (settings, new secret or None).

    The first settings with a webhook get a signing secret, returned once; later PUTs
    keep the secret (rotate it with `rotate_secret`)."""
    ts = clock.now_iso()
    current = get_settings(user_id)
    item = current or NotificationModel(pk(user_id), SETTINGS, user_id=user_id, created_at=ts)
    item.webhook_url, item.email, item.events, item.updated_at = webhook_url, email, cast(Any, list(events)), ts
    fresh = None
    if webhook_url and not item.secret:
        fresh = item.secret = signing.new_secret()
    item.save()
    return item, fresh


@storage_call("rotate_notification_secret")
def rotate_secret(user_id: str) -> tuple[NotificationModel, str] | None:
    """A new secret; the old one keeps signing alongside it for `signing.ROTATION_GRACE`.
    None when the user has no settings yet."""
    item = get_settings(user_id)
    if item is None:
        return None
    fresh = signing.new_secret()
    if item.secret:
        item.previous_secret = item.secret
        item.previous_secret_expires_at = clock.to_iso(clock.now() + signing.ROTATION_GRACE)
    item.secret, item.updated_at = fresh, clock.now_iso()
    item.save()
    return item, fresh


def secrets_in_use(item: NotificationModel) -> list[str]:
    """The secrets a webhook body is signed with now: the current one, and the previous
    one during the grace period after a rotation."""
    out = [str(item.secret)] if item.secret else []
    if item.previous_secret and item.previous_secret_expires_at and item.previous_secret_expires_at > clock.now_iso():
        out.append(str(item.previous_secret))
    return out


# --- deliveries ----------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryKey:
    """Where a delivery lives; also the body of its queue message."""

    user_id: str
    sk: str

    def message(self) -> str:
        return json.dumps({"user_id": self.user_id, "sk": self.sk}, separators=(",", ":"))

    @staticmethod
    def from_message(body: str) -> DeliveryKey:
        data = json.loads(body)
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("user_id"), str)
            or not isinstance(data.get("sk"), str)
        ):
            raise ValueError("not a delivery message")
        return DeliveryKey(data["user_id"], data["sk"])


def delivery_sk(occurred_at: str, event_id: str, channel: str) -> str:
    return f"{DELIVERY}{occurred_at}#{event_id}#{channel}"


@storage_call("create_delivery")
def create_delivery(
    *, user_id: str, event_id: str, event_type: str, occurred_at: str, channel: str, target: str, payload: str
) -> tuple[DeliveryKey, bool]:
    """Record a delivery to make; (key, created). Not created when the same event was
    already recorded for this channel (a change streamed again)."""
    ts = clock.now_iso()
    key = DeliveryKey(user_id, delivery_sk(occurred_at, event_id, channel))
    item = NotificationModel(
        pk(user_id),
        key.sk,
        user_id=user_id,
        created_at=ts,
        updated_at=ts,
        event_id=event_id,
        event_type=event_type,
        channel=channel,
        target=target,
        payload=payload,
        status=PENDING,
        attempts=0,
        attempt_log=[],
        next_attempt_at=ts,
        expires_at=clock.now() + KEEP_DELIVERIES,
    )
    try:
        item.save(condition=NotificationModel.sk.does_not_exist())
    except PutError as exc:
        if _is_condition_failure(exc):
            return key, False
        raise
    return key, True


@storage_call("get_delivery")
def get_delivery(key: DeliveryKey) -> NotificationModel | None:
    try:
        return NotificationModel.get(pk(key.user_id), key.sk, consistent_read=True)
    except DoesNotExist:
        return None


@storage_call("claim_delivery")
def claim(item: NotificationModel) -> bool:
    """Take a pending delivery for one attempt; False if another worker holds it or it
    is done. The lease expires, so a worker that died leaves it to the next message."""
    now = clock.now_iso()
    lease = NotificationModel.lease_until
    try:
        item.update(
            actions=[NotificationModel.lease_until.set(clock.to_iso(clock.now() + LEASE))],
            condition=NotificationModel.status.is_in(PENDING, RETRYING) & (lease.does_not_exist() | (lease < now)),
        )
    except UpdateError as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


@storage_call("record_attempt")
def record_attempt(
    item: NotificationModel, *, status: str, attempt: dict[str, Any], next_attempt_at: str | None
) -> None:
    """Log one attempt and the delivery's new state; releases the lease."""
    ts = clock.now_iso()
    log = (list(item.attempt_log or []) + [attempt])[-MAX_LOGGED_ATTEMPTS:]
    actions: list[Action] = [
        NotificationModel.status.set(status),
        NotificationModel.attempts.set(int(item.attempts or 0) + 1),
        NotificationModel.attempt_log.set(cast(Any, log)),
        NotificationModel.updated_at.set(ts),
        NotificationModel.lease_until.remove(),
    ]
    actions.append(
        NotificationModel.next_attempt_at.set(next_attempt_at)
        if next_attempt_at
        else NotificationModel.next_attempt_at.remove()
    )
    if status == DELIVERED:
        actions.append(NotificationModel.delivered_at.set(ts))
    item.update(actions=actions)


@storage_call("list_deliveries")
def list_deliveries(
    user_id: str, limit: int = 20, next_token: str | None = None
) -> tuple[list[NotificationModel], str | None]:
    """A user's deliveries, newest first; one Query per page."""
    scope = f"deliveries:{user_id}"
    result = NotificationModel.query(
        pk(user_id),
        NotificationModel.sk.startswith(DELIVERY),
        scan_index_forward=False,
        limit=limit,
        page_size=limit,
        last_evaluated_key=pagination.decode(next_token, scope),
    )
    items = list(itertools.islice(result, limit))
    return items, pagination.encode(result.last_evaluated_key, scope)
