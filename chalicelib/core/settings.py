"""Runtime settings, read once from the environment.

Every module asks this one place for stage, resource names, region and endpoint so a
deployment (or a test) changes configuration by environment alone. Defaults are the
local-stage names of design §3.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

LOCAL_STAGES = frozenset({"local", "test"})
#: Functions the app invokes asynchronously -> the variable naming the deployed function.
ASYNC_FUNCTIONS = {
    "maintenance_run": "AMR_MAINTENANCE_FUNCTION",
    "send_password_reset": "AMR_PASSWORD_RESET_FUNCTION",
}


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    endpoint_url: str | None
    jobs_table: str
    users_table: str
    events_table: str
    counters_table: str
    runs_table: str
    batches_table: str
    #: notification settings and the delivery log (design §22)
    notifications_table: str
    upload_bucket: str
    results_bucket: str
    archive_bucket: str
    jwt_secret_name: str
    jwt_issuer: str
    jwt_audience: str
    mail_sender: str
    max_retry_attempts: int
    retry_mode: str
    #: Pure Lambda functions of this app by handler name -> deployed function name (set
    #: in AWS); without one, asynchronous invocations go to `async_queue` (local, test).
    functions: dict[str, str]
    async_queue: str
    #: webhook and email deliveries wait here between attempts (design §22)
    notifications_queue: str
    #: first retry delay of a failed delivery; later ones grow fourfold (see notifications.delivery)
    notify_retry_base_seconds: int
    #: the service's public base URL, for links in notifications ("" when unknown)
    public_url: str

    @property
    def is_local(self) -> bool:
        """Local and test stages take secrets from the environment, never Secrets Manager."""
        return self.stage in LOCAL_STAGES


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (os.environ by default)."""
    env = dict(os.environ if environ is None else environ)

    def get(name: str, default: str) -> str:
        value = env.get(name, "").strip()
        return value or default

    stage = get("AMR_STAGE", "local")
    prefix = f"amr-{stage}"
    retries = get("AMR_MAX_RETRY_ATTEMPTS", "3")
    return Settings(
        stage=stage,
        region=get("AWS_REGION", get("AWS_DEFAULT_REGION", "us-east-1")),
        endpoint_url=get("AMR_AWS_ENDPOINT_URL", "") or None,
        jobs_table=get("AMR_JOBS_TABLE", f"{prefix}-jobs"),
        users_table=get("AMR_USERS_TABLE", f"{prefix}-users"),
        events_table=get("AMR_EVENTS_TABLE", f"{prefix}-job-events"),
        counters_table=get("AMR_COUNTERS_TABLE", f"{prefix}-counters"),
        runs_table=get("AMR_RUNS_TABLE", f"{prefix}-maintenance-runs"),
        batches_table=get("AMR_BATCHES_TABLE", f"{prefix}-batches"),
        notifications_table=get("AMR_NOTIFICATIONS_TABLE", f"{prefix}-notifications"),
        upload_bucket=get("AMR_UPLOAD_BUCKET", f"{prefix}-uploads"),
        results_bucket=get("AMR_RESULTS_BUCKET", f"{prefix}-results"),
        archive_bucket=get("AMR_ARCHIVE_BUCKET", f"{prefix}-archive"),
        jwt_secret_name=get("AMR_JWT_SECRET_NAME", f"{prefix}/jwt-secret"),
        jwt_issuer=get("AMR_JWT_ISSUER", f"{prefix}-api"),
        jwt_audience=get("AMR_JWT_AUDIENCE", f"{prefix}-clients"),
        mail_sender=get("AMR_MAIL_SENDER", "no-reply@amr.example.org"),
        max_retry_attempts=int(retries) if retries.isdigit() else 3,
        retry_mode=get("AMR_RETRY_MODE", "standard"),
        functions={name: env[var].strip() for name, var in ASYNC_FUNCTIONS.items() if env.get(var, "").strip()},
        async_queue=get("AMR_ASYNC_QUEUE", f"{prefix}-async-invocations"),
        notifications_queue=get("AMR_NOTIFICATIONS_QUEUE", f"{prefix}-notifications"),
        notify_retry_base_seconds=_positive(get("AMR_NOTIFY_RETRY_BASE_SECONDS", "10"), 10),
        public_url=get("AMR_PUBLIC_URL", "").rstrip("/"),
    )


def _positive(text: str, default: int) -> int:
    return int(text) if text.isdigit() and int(text) > 0 else default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this container; cached because the environment does not change."""
    return load_settings()


def reset_settings() -> None:
    """Forget cached settings (tests that change the environment call this)."""
    get_settings.cache_clear()
