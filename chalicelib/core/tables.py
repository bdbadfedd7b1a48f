"""DynamoDB table layout: the one module that knows tables, keys and indexes.

Access patterns (design §5), each served by GetItem or Query, never Scan:
- job by id ........................ jobs table, GetItem on `job_id`
- a user's jobs, newest first ...... jobs `user-created-index` (user_id, created_at)
- a user's jobs with one status .... jobs `user-status-index` (user_status, created_at)
- jobs by status and age ........... jobs `status-changed-index` (status, status_changed_at)
- events of a job, oldest first .... events table (job_id, event_key)
- statistics ....................... counters table, BatchGetItem on `scope` shards
                                      (`{scope}#{nn}`, see chalicelib.jobs.counters)
- user by id / username / email ..... users table, GetItem on `pk` (`user#{id}`,
                                      `username#{lower}` -> user_id, `email#{lower}` -> user_id)
- all users, newest first ........... users `users-created-index` (list_pk, created_at)
- login throttle of a username ...... users table, GetItem on `pk` = `login#{lower}`
- a maintenance run ................. runs table, GetItem on `run_id`
- a user's notification settings .... notifications table, GetItem (`user#{id}`, `settings`)
- a user's deliveries, newest first . notifications table, Query (`user#{id}`, `delivery#...`)
Jobs and batches stream their changes (new and old images) to the notifier (design §22).
`infra/` declares the same tables; a test checks that both agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.core.settings import Settings, get_settings

STATUSES = ("Submitted", "Running", "Completed", "Error", "Archived", "Cancelled")


class _Meta:
    """Connection settings shared by every model; filled in by `bind_models`."""

    billing_mode = "PAY_PER_REQUEST"


class UserCreatedIndex(GlobalSecondaryIndex["JobModel"]):
    class Meta:
        index_name = "user-created-index"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class UserStatusIndex(GlobalSecondaryIndex["JobModel"]):
    class Meta:
        index_name = "user-status-index"
        projection = AllProjection()

    user_status = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class StatusChangedIndex(GlobalSecondaryIndex["JobModel"]):
    class Meta:
        index_name = "status-changed-index"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    status_changed_at = UnicodeAttribute(range_key=True)


class BatchJobsIndex(GlobalSecondaryIndex["JobModel"]):
    """Sparse: only jobs of a batch carry `batch_id`; `batch_order` sorts them as submitted."""

    class Meta:
        index_name = "batch-order-index"
        projection = AllProjection()

    batch_id = UnicodeAttribute(hash_key=True)
    batch_order = UnicodeAttribute(range_key=True)


class JobModel(Model):
    """One prediction job. `user_status` is derived (`{user_id}#{status}`) for its index."""

    class Meta(_Meta):
        table_name = "amr-local-jobs"
        stream_view_type = "NEW_AND_OLD_IMAGES"

    job_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    job_name = UnicodeAttribute()
    status = UnicodeAttribute()
    user_status = UnicodeAttribute()
    progress = NumberAttribute(default=0)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    status_changed_at = UnicodeAttribute()
    started_at = UnicodeAttribute(null=True)
    completed_at = UnicodeAttribute(null=True)
    heartbeat_at = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    params: MapAttribute[str, Any] = MapAttribute(default=dict)
    model_name = UnicodeAttribute(default="resfinder")
    source = UnicodeAttribute(default="api")
    input_key = UnicodeAttribute(null=True)
    input_filename = UnicodeAttribute(null=True)
    input_size = NumberAttribute(null=True)
    #: paired reads (design §12): the second mate's object, as `input_*` is the first's;
    #: `mate_reported_at` is set once maintenance has reported a mate that never came
    mate_key = UnicodeAttribute(null=True)
    mate_filename = UnicodeAttribute(null=True)
    mate_size = NumberAttribute(null=True)
    mate_reported_at = UnicodeAttribute(null=True)
    result_keys = ListAttribute(of=UnicodeAttribute, null=True)
    archive_keys = ListAttribute(of=UnicodeAttribute, null=True)
    summary: MapAttribute[str, Any] = MapAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    #: jobs imported from the earlier service (source `legacy`): its id, status and file paths
    legacy: MapAttribute[str, Any] = MapAttribute(null=True)
    #: the batch (design §13) this job is a sample of
    batch_id = UnicodeAttribute(null=True)
    #: `{created_at}#{sample index}` (API batches) or `{created_at}#{job_id}` (drops)
    batch_order = UnicodeAttribute(null=True)

    user_created_index = UserCreatedIndex()
    user_status_index = UserStatusIndex()
    status_changed_index = StatusChangedIndex()
    batch_jobs_index = BatchJobsIndex()


class JobEventModel(Model):
    """One line of a job's log; `event_key` = `{timestamp}#{sequence}` sorts oldest first."""

    class Meta(_Meta):
        table_name = "amr-local-job-events"

    job_id = UnicodeAttribute(hash_key=True)
    event_key = UnicodeAttribute(range_key=True)
    timestamp = UnicodeAttribute()
    level = UnicodeAttribute(default="INFO")
    message = UnicodeAttribute()
    data: MapAttribute[str, Any] = MapAttribute(null=True)


class CounterModel(Model):
    """Running totals per scope (`global` or `user#{id}`) so statistics never Scan.

    `n_<status>` count the jobs currently in that status; the `*_total` and duration
    fields are lifetime outcome counters that deletion does not undo.
    """

    class Meta(_Meta):
        table_name = "amr-local-counters"

    scope = UnicodeAttribute(hash_key=True)
    n_submitted = NumberAttribute(default=0)
    n_running = NumberAttribute(default=0)
    n_completed = NumberAttribute(default=0)
    n_error = NumberAttribute(default=0)
    n_archived = NumberAttribute(default=0)
    n_cancelled = NumberAttribute(default=0)
    created_total = NumberAttribute(default=0)
    completed_total = NumberAttribute(default=0)
    error_total = NumberAttribute(default=0)
    cancelled_total = NumberAttribute(default=0)
    duration_sum = NumberAttribute(default=0)
    duration_count = NumberAttribute(default=0)
    model_resfinder = NumberAttribute(default=0)
    #: when a job of the scope first started / last changed status (timing of a batch)
    #: quota day items (`jobs/quotas.py`) expire through TTL once their day is over
    expires_at = TTLAttribute(null=True)
    first_started_at = UnicodeAttribute(null=True)
    last_changed_at = UnicodeAttribute(null=True)

    @staticmethod
    def status_attr(status: str) -> NumberAttribute:
        return getattr(CounterModel, f"n_{status.lower()}")

    @staticmethod
    def model_attr(model_name: str) -> NumberAttribute | None:
        return getattr(CounterModel, f"model_{model_name}", None)


class MaintenanceRunModel(Model):
    """One requested maintenance run (`POST /admin/maintenance`): queued, running, then
    finished (with its report as JSON) or failed. Expires through TTL after 30 days."""

    class Meta(_Meta):
        table_name = "amr-local-maintenance-runs"

    run_id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    tasks = ListAttribute(of=UnicodeAttribute)
    dry_run = BooleanAttribute(default=False)
    requested_by = UnicodeAttribute()
    created_at = UnicodeAttribute()
    started_at = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    report = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class BatchUserIndex(GlobalSecondaryIndex["BatchModel"]):
    class Meta:
        index_name = "user-created-index"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class BatchModel(Model):
    """A batch of jobs (design §13): its name and parameters. How many of its jobs are in
    each status lives in the sharded counters (scope `batch#{id}`), updated in each job's
    own transitions, so this item is written only when the batch is created, cancelled
    or removed. `folder` is set for batches formed by bucket drops."""

    class Meta(_Meta):
        table_name = "amr-local-batches"
        stream_view_type = "NEW_AND_OLD_IMAGES"

    batch_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    batch_name = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    params: MapAttribute[str, Any] = MapAttribute(default=dict)
    source = UnicodeAttribute(default="api")
    folder = UnicodeAttribute(null=True)
    cancelled_at = UnicodeAttribute(null=True)
    #: set by the notifier when no job of the batch is left Submitted or Running, with the
    #: number of jobs it then had: a conditional write, so one `batch.finished` per finish
    finished_at = UnicodeAttribute(null=True)
    finished_total = NumberAttribute(null=True)

    user_created_index = BatchUserIndex()


class UsersCreatedIndex(GlobalSecondaryIndex["UserModel"]):
    """Sparse: only account items carry `list_pk`, so guards and throttles stay out."""

    class Meta:
        index_name = "users-created-index"
        projection = AllProjection()

    list_pk = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class UserModel(Model):
    """Every item of the users table; `kind` says which shape an item has.

    - `user#{user_id}` (kind `user`): the account. `password_version` grows with every
      password change so older tokens stop working; `reset_*` hold the one outstanding
      password-reset token, only as a SHA-256 hash.
    - `username#{lower}` / `email#{lower}` (kinds `username` / `email`): uniqueness
      guards holding `user_id`, written in the same transaction as the account under
      `attribute_not_exists(pk)`, so two racing registrations cannot both succeed.
    - `login#{lower}` (kind `login`): failed-login window of a username (known or not,
      so throttling does not reveal which usernames exist); expires through TTL.
    """

    class Meta(_Meta):
        table_name = "amr-local-users"

    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    user_id = UnicodeAttribute(null=True)
    # account
    username = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    password_hash = UnicodeAttribute(null=True)
    password_version = NumberAttribute(default=0)
    password_changed_at = UnicodeAttribute(null=True)
    role = UnicodeAttribute(null=True)
    is_active = BooleanAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    last_login = UnicodeAttribute(null=True)
    list_pk = UnicodeAttribute(null=True)
    reset_hash = UnicodeAttribute(null=True)
    reset_issued_at = UnicodeAttribute(null=True)
    reset_expires_at = UnicodeAttribute(null=True)
    #: imported with a password hash of an unknown scheme: login refused until a reset
    password_reset_required = BooleanAttribute(null=True)
    #: the account's id in the earlier service, when it was not a UUID
    legacy_id = UnicodeAttribute(null=True)
    # login throttle
    failures = NumberAttribute(null=True)
    window_start = UnicodeAttribute(null=True)
    locked_until = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    users_index = UsersCreatedIndex()


class NotificationModel(Model):
    """Notification settings and the delivery log of a user (design §22), one partition each.

    - `sk = settings`: webhook URL, email on/off, chosen events, the signing secret (and
      the previous one with its expiry, during a rotation).
    - `sk = delivery#{occurred_at}#{event_id}#{channel}`: one event to one channel, its
      payload exactly as sent, status and attempts. The key is derived from the change that
      caused the event, so a change streamed twice writes one delivery (conditional put).
      Deliveries expire through TTL after 30 days.
    """

    class Meta(_Meta):
        table_name = "amr-local-notifications"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    # settings
    webhook_url = UnicodeAttribute(null=True)
    email = BooleanAttribute(null=True)
    events = ListAttribute(of=UnicodeAttribute, null=True)
    secret = UnicodeAttribute(null=True)
    previous_secret = UnicodeAttribute(null=True)
    previous_secret_expires_at = UnicodeAttribute(null=True)
    # delivery
    event_id = UnicodeAttribute(null=True)
    event_type = UnicodeAttribute(null=True)
    channel = UnicodeAttribute(null=True)
    target = UnicodeAttribute(null=True)
    payload = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    attempts = NumberAttribute(null=True)
    attempt_log = ListAttribute(of=MapAttribute, null=True)
    next_attempt_at = UnicodeAttribute(null=True)
    lease_until = UnicodeAttribute(null=True)
    delivered_at = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


def plain(value: Any) -> Any:
    """A map attribute (PynamoDB MapAttribute, or a dict before a round trip) as plain
    JSON-compatible data; None stays None."""
    if value is None:
        return None
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    return json.loads(json.dumps(value, default=str))


#: Every table of the service, with the settings field naming it.
TABLES: dict[str, type[Model]] = {
    "jobs_table": JobModel,
    "events_table": JobEventModel,
    "counters_table": CounterModel,
    "runs_table": MaintenanceRunModel,
    "batches_table": BatchModel,
    "users_table": UserModel,
    "notifications_table": NotificationModel,
}


def register_table(settings_field: str, model: type[Model]) -> None:
    """Add a model defined elsewhere (e.g. users) so binding and creation include it."""
    TABLES[settings_field] = model
    bind_models(get_settings(), [settings_field])


def bind_models(settings: Settings, fields: Iterable[str] | None = None) -> None:
    """Point models at the stage's tables, region and endpoint; drop old connections."""
    for field in fields or list(TABLES):
        model = TABLES[field]
        model.Meta.table_name = getattr(settings, field)
        model.Meta.region = settings.region
        model.Meta.host = settings.endpoint_url
        model.Meta.max_retry_attempts = settings.max_retry_attempts
        model._connection = None
    global _connection
    _connection = None


_connection: Connection | None = None


def connection() -> Connection:
    """The low-level connection used for transactions, bound like the models."""
    global _connection
    if _connection is None:
        settings = get_settings()
        _connection = Connection(
            region=settings.region,
            host=settings.endpoint_url,
            max_retry_attempts=settings.max_retry_attempts,
        )
    return _connection


def dynamodb_clients() -> list[Any]:
    """Every botocore DynamoDB client in use (benchmarks hook their events)."""
    clients = [model._get_connection().connection.client for model in TABLES.values()]
    return clients + [connection().client]


def create_tables(wait: bool = False) -> list[str]:
    """Create every missing table (tests, local stack); returns the names created."""
    created = []
    for model in TABLES.values():
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=wait)
            created.append(model.Meta.table_name)
    return created


def table_definitions() -> dict[str, dict[str, Any]]:
    """Key schema and indexes per table, for comparing with `infra/` templates."""
    out: dict[str, dict[str, Any]] = {}
    for model in TABLES.values():
        schema = model._get_schema()  # PynamoDB's own CreateTable arguments
        out[model.Meta.table_name] = {
            "key_schema": schema["key_schema"],
            "attribute_definitions": schema["attribute_definitions"],
            "global_secondary_indexes": [
                {"index_name": i["index_name"], "key_schema": i["key_schema"]}
                for i in schema.get("global_secondary_indexes", [])
            ],
        }
    return out


bind_models(get_settings())
