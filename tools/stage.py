"""Which stage a tool works on: the one `chalicelib.core.settings` names.

In AWS that is the environment as for the service (`AMR_STAGE`, `AWS_REGION`, table and
bucket overrides, credentials from the usual AWS chain). For the `local` stage without
an explicit `AMR_AWS_ENDPOINT_URL`, the tool talks to the running local stack (`make run`)
and finds its emulator the way `local.run_schedule` does.
"""

from __future__ import annotations

import os
from typing import Any

from chalicelib.core import aws, tables
from chalicelib.core.settings import Settings, get_settings, reset_settings


class StageUnavailable(SystemExit):
    """The named stage cannot be reached; the message says what to do."""


def quiet_metrics() -> None:
    """Tools record no CloudWatch metrics: powertools prints an EMF line to stdout at
    every 100 values, whatever its settings, which would run through the report."""
    from chalicelib.core import observability

    observability.metrics.add_metric = lambda *args, **kwargs: None  # type: ignore[method-assign]


def connect() -> Settings:
    """Bind clients and models to the stage of the environment and return its settings."""
    quiet_metrics()
    stage = os.environ.get("AMR_STAGE", "").strip() or "local"
    if stage == "local" and not os.environ.get("AMR_AWS_ENDPOINT_URL", "").strip():
        from local import config as stack_config

        config = stack_config.load_config()
        running = stack_config.running_stack(config)
        if running is None:
            raise StageUnavailable(
                f"the local stack is not running (state directory {config.state_dir}); start it with "
                "`make run`, or set AMR_STAGE (and AWS credentials) for a deployed stage"
            )
        stack_config.apply_app_environment(running)
    reset_settings()
    aws.reset_clients()
    settings = get_settings()
    tables.bind_models(settings)
    return settings


def table_names(settings: Settings) -> dict[str, str]:
    """Settings field -> table name of every table of the service."""
    return {field: getattr(settings, field) for field in tables.TABLES}


def bucket_names(settings: Settings) -> dict[str, str]:
    """Settings field -> bucket name of every bucket of the service."""
    return {field: getattr(settings, field) for field in ("upload_bucket", "results_bucket", "archive_bucket")}


def describe(settings: Settings) -> str:
    where = settings.endpoint_url or f"AWS {settings.region}"
    return f"stage {settings.stage} ({where})"


def dynamodb() -> Any:
    return aws.client("dynamodb")


def s3() -> Any:
    return aws.client("s3")
