"""AMR prediction job service: wiring only.

Routes, the upload-bucket event and the maintenance schedules are connected here to
functions in `chalicelib/`, which own the behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, CloudWatchEvent, DynamoDBEvent, Request, Response, S3Event, SQSEvent

from chalicelib.core.lazy import lazy_import
from chalicelib.core.settings import get_settings
from chalicelib.gateway import middleware
from chalicelib.maintenance import schedules
from chalicelib.notifications import wiring as notify_wiring
from chalicelib.prediction import intake

# Modules only some requests need load on first use (cold start stays small).
accounts_api = lazy_import("chalicelib.accounts.api")
accounts_auth = lazy_import("chalicelib.accounts.auth")
batches_api = lazy_import("chalicelib.batches.api")
health_check = lazy_import("chalicelib.gateway.health")
jobs_api = lazy_import("chalicelib.jobs.api")
maintenance = lazy_import("chalicelib.maintenance.tasks")
maintenance_runs = lazy_import("chalicelib.maintenance.runs")
notifications_api = lazy_import("chalicelib.notifications.api")
notifier = lazy_import("chalicelib.notifications.notifier")
openapi = lazy_import("chalicelib.gateway.openapi")
webapp = lazy_import("chalicelib.gateway.webapp")

app = Chalice(app_name="amr-service")
app.debug = False  # never render stack traces, whatever the stage
# The batch workbook (design §21) is binary: API Gateway passes it through as bytes for a
# request whose Accept names this type (chalicelib/batches/reports.py).
app.api.binary_types.append("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@app.middleware("http")
def http_pipeline(event: Request, get_response: Callable[[Request], Response]) -> Response:
    return middleware.handle_http(event, get_response, app.routes)


# --- auth routes -------------------------------------------------------------


NO_BODY = ["*/*"]  # bodiless routes accept any Content-Type


@app.route("/auth/register", methods=["POST"])
def register() -> Response:
    return accounts_api.register(app.current_request)


@app.route("/auth/login", methods=["POST"])
def login() -> Response:
    return accounts_api.login(app.current_request)


@app.route("/auth/me", methods=["GET"], content_types=NO_BODY)
def me() -> Response:
    return accounts_api.me()


@app.route("/auth/password", methods=["POST"])
def change_password() -> Response:
    return accounts_api.change_password(app.current_request)


@app.route("/auth/password-reset", methods=["POST"])
def password_reset() -> Response:
    return accounts_api.password_reset(app.current_request)


@app.lambda_function(name="send_password_reset")
def send_password_reset(event: dict[str, Any], context: Any) -> dict[str, str]:
    """The lookup, token and email of a reset request, invoked asynchronously."""
    return accounts_auth.handle_reset_event(event)


@app.route("/auth/password-reset/confirm", methods=["POST"])
def password_reset_confirm() -> Response:
    return accounts_api.password_reset_confirm(app.current_request)


@app.route("/admin/users", methods=["GET"], content_types=NO_BODY)
def admin_list_users() -> Response:
    return accounts_api.admin_list_users(app.current_request)


@app.route("/admin/users/{user_id}", methods=["PATCH"])
def admin_patch_user(user_id: str) -> Response:
    return accounts_api.admin_patch_user(app.current_request, user_id)


# --- notifications (design §22) -------------------------------------------------


@app.route("/account/notifications", methods=["GET"], content_types=NO_BODY)
def get_notifications() -> Response:
    return notifications_api.get_settings_route()


@app.route("/account/notifications", methods=["PUT"])
def put_notifications() -> Response:
    return notifications_api.put_settings_route(app.current_request)


@app.route("/account/notifications/secret", methods=["POST"], content_types=NO_BODY)
def rotate_notification_secret() -> Response:
    return notifications_api.rotate_secret_route()


@app.route("/account/notifications/deliveries", methods=["GET"], content_types=NO_BODY)
def notification_deliveries() -> Response:
    return notifications_api.deliveries_route(app.current_request)


@app.on_dynamodb_record(stream_arn=notify_wiring.jobs_stream_arn(), batch_size=100, starting_position="TRIM_HORIZON")
def on_job_change(event: DynamoDBEvent) -> dict[str, int]:
    """Jobs that completed or failed are announced; a batch whose last job ended is marked finished."""
    return notifier.on_job_records(event.to_dict().get("Records", []))


@app.on_dynamodb_record(stream_arn=notify_wiring.batches_stream_arn(), batch_size=100, starting_position="TRIM_HORIZON")
def on_batch_change(event: DynamoDBEvent) -> dict[str, int]:
    """A batch marked finished is announced (webhook and email)."""
    return notifier.on_batch_records(event.to_dict().get("Records", []))


@app.on_sqs_message(queue=notify_wiring.queue_name(), batch_size=10)
def deliver_notifications(event: SQSEvent) -> dict[str, int]:
    """One attempt per queued delivery; failures are queued again with backoff."""
    return notifier.on_queue_messages(record.body for record in event)


# --- job routes --------------------------------------------------------------


@app.route("/jobs", methods=["POST"])
def create_job() -> Response:
    return jobs_api.create_job(app.current_request)


@app.route("/jobs", methods=["GET"], content_types=NO_BODY)
def list_jobs() -> Response:
    return jobs_api.list_jobs(app.current_request)


@app.route("/jobs/{job_id}", methods=["GET"], content_types=NO_BODY)
def get_job(job_id: str) -> Response:
    return jobs_api.get_job(job_id)


@app.route("/jobs/{job_id}", methods=["DELETE"], content_types=NO_BODY)
def delete_job(job_id: str) -> Response:
    return jobs_api.delete_job(job_id)


@app.route("/jobs/{job_id}/cancel", methods=["POST"], content_types=NO_BODY)
def cancel_job(job_id: str) -> Response:
    return jobs_api.cancel_job(job_id)


@app.route("/jobs/{job_id}/logs", methods=["GET"], content_types=NO_BODY)
def job_logs(job_id: str) -> Response:
    return jobs_api.job_logs(job_id, app.current_request)


@app.route("/jobs/{job_id}/results", methods=["GET"], content_types=NO_BODY)
def job_results(job_id: str) -> Response:
    return jobs_api.job_results(job_id)


# --- batch routes ------------------------------------------------------------


@app.route("/batches", methods=["POST"])
def create_batch() -> Response:
    return batches_api.create_batch(app.current_request)


@app.route("/batches", methods=["GET"], content_types=NO_BODY)
def list_batches() -> Response:
    return batches_api.list_batches(app.current_request)


@app.route("/batches/{batch_id}", methods=["GET"], content_types=NO_BODY)
def get_batch(batch_id: str) -> Response:
    return batches_api.get_batch(batch_id)


@app.route("/batches/{batch_id}", methods=["DELETE"], content_types=NO_BODY)
def delete_batch(batch_id: str) -> Response:
    return batches_api.delete_batch(batch_id)


@app.route("/batches/{batch_id}/cancel", methods=["POST"], content_types=NO_BODY)
def cancel_batch(batch_id: str) -> Response:
    return batches_api.cancel_batch(batch_id)


@app.route("/batches/{batch_id}/matrix", methods=["GET"], content_types=NO_BODY)
def batch_matrix(batch_id: str) -> Response:
    return batches_api.batch_matrix(batch_id, app.current_request)


@app.route("/stats", methods=["GET"], content_types=NO_BODY)
def stats() -> Response:
    return jobs_api.stats(app.current_request)


@app.route("/health", methods=["GET"], content_types=NO_BODY)
def health() -> Response:
    return health_check.health()


@app.route("/openapi.json", methods=["GET"], content_types=NO_BODY)
def openapi_document() -> Response:
    return openapi.serve()


# --- the browser app (design §15) ----------------------------------------------


@app.route("/", methods=["GET"], content_types=NO_BODY)
def web_index() -> Response:
    return webapp.index(app.current_request)


@app.route("/assets/{name}", methods=["GET"], content_types=NO_BODY)
def web_asset(name: str) -> Response:
    return webapp.asset(name, app.current_request)


# --- upload events -----------------------------------------------------------


@app.on_s3_event(bucket=get_settings().upload_bucket, events=["s3:ObjectCreated:*"])
def on_upload(event: S3Event) -> list[dict[str, Any]]:
    """API uploads and inbox drops start predictions (design §7)."""
    return [o.to_dict() for o in intake.handle_upload_event(event.to_dict(), event.context)]


on_upload.event_class = intake.LenientS3Event  # malformed events reach our handler, not a crash


# --- maintenance -------------------------------------------------------------


# Rates come from the lifecycle policy seen when the app is packaged (Chalice needs them
# at import time): archive and purge every cleanup.run_frequency_hours, stalled checks
# every stalled_running_minutes / 4 (at most 5 minutes apart).


@app.schedule(schedules.stalled_rate())
def maintenance_stalled(event: CloudWatchEvent) -> dict[str, Any]:
    return maintenance.scheduled("stalled", event.context)


@app.schedule(schedules.cleanup_rate())
def maintenance_purge(event: CloudWatchEvent) -> dict[str, Any]:
    return maintenance.scheduled("purge", event.context)


@app.schedule(schedules.cleanup_rate())
def maintenance_archive(event: CloudWatchEvent) -> dict[str, Any]:
    return maintenance.scheduled("archive", event.context)


@app.route("/admin/maintenance", methods=["POST"])
def admin_maintenance() -> Response:
    return maintenance_runs.handle_request(app.current_request)


@app.route("/admin/maintenance/{run_id}", methods=["GET"], content_types=NO_BODY)
def admin_maintenance_run(run_id: str) -> Response:
    return maintenance_runs.handle_get(run_id)


@app.lambda_function(name="maintenance_run")
def maintenance_run(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A run requested with POST /admin/maintenance, invoked asynchronously."""
    return maintenance_runs.execute(event, context)


@app.route("/jobs/cleanup", methods=["DELETE"], content_types=["*/*"])
def cleanup_jobs() -> Response:
    return maintenance.handle_cleanup(app.current_request)
