"""The stage's storage on an emulator (moto in-process or the local stack's): every table,
the three buckets and the two queues the functions use. One place for the tests, the
benchmarks and tools that start from empty storage; idempotent."""

from __future__ import annotations

from chalicelib.core import aws
from chalicelib.core import tables as models
from chalicelib.core.settings import Settings, get_settings
from local.invoker import ensure_queue


def provision(settings: Settings | None = None) -> Settings:
    """Bind the models to `settings` (the current ones by default) and create what is missing."""
    settings = settings or get_settings()
    models.bind_models(settings)
    models.create_tables()
    s3 = aws.client("s3")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (settings.upload_bucket, settings.results_bucket, settings.archive_bucket):
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
    sqs = aws.client("sqs")
    for queue in (settings.async_queue, settings.notifications_queue):
        ensure_queue(sqs, queue)
    return settings
