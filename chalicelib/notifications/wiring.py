"""What `app.py` needs at import time to wire the notifier: stream ARNs and the queue.

Chalice needs a stream ARN when the app is loaded; a table's stream ARN exists only once
the table does (it ends in a creation timestamp). Deployed functions get the ARNs from
the environment (`AMR_JOBS_STREAM_ARN`, `AMR_BATCHES_STREAM_ARN`); when packaging,
`scripts/package.py` replaces the event sources with the tables' `StreamArn` from
`infra/`. Elsewhere a placeholder naming the table stands in (the local stack finds the
streams by table name).
"""

from __future__ import annotations

import os

from chalicelib.core.settings import get_settings


def _placeholder(table: str) -> str:
    settings = get_settings()
    return f"arn:aws:dynamodb:{settings.region}:000000000000:table/{table}/stream/latest"


def jobs_stream_arn() -> str:
    return os.environ.get("AMR_JOBS_STREAM_ARN", "").strip() or _placeholder(get_settings().jobs_table)


def batches_stream_arn() -> str:
    return os.environ.get("AMR_BATCHES_STREAM_ARN", "").strip() or _placeholder(get_settings().batches_table)


def queue_name() -> str:
    return get_settings().notifications_queue
