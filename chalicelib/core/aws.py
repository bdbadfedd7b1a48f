"""AWS clients, built lazily once per container, and the storage-failure boundary.

Clients honour the stage's endpoint (the emulator locally) and use botocore's
standard/adaptive retry modes, so throttling and timeouts are retried with backoff before
anything surfaces as `StorageUnavailable`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from chalicelib.core.errors import StorageUnavailable
from chalicelib.core.observability import logger, timed
from chalicelib.core.settings import get_settings

F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def client(service: str) -> Any:
    """A boto3 client for `service`, shared by all invocations of this container.

    boto3 (with s3transfer) is imported here, not at module load: a function that only
    talks to DynamoDB (through PynamoDB's botocore client) never pays for it.
    """
    import boto3

    settings = get_settings()
    config = Config(
        retries={"mode": settings.retry_mode, "total_max_attempts": 1 + settings.max_retry_attempts},
        connect_timeout=5,
        read_timeout=30,
        signature_version="s3v4" if service == "s3" else None,
    )
    return boto3.session.Session().client(
        service, region_name=settings.region, endpoint_url=settings.endpoint_url, config=config
    )


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and moto contexts)."""
    client.cache_clear()


def storage_call(operation: str) -> Callable[[F], F]:
    """Time a storage operation and turn exhausted AWS failures into one typed error.

    Conditional-check failures are expected outcomes and must be handled inside the
    operation; whatever escapes here is an outage from the caller's point of view.
    """

    def decorator(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with timed(f"store.{operation}.ms"):
                try:
                    return fn(*args, **kwargs)
                except (PynamoDBException, BotoCoreError, ClientError) as exc:
                    logger.warning("storage call failed", extra={"operation": operation, "error": repr(exc)})
                    raise StorageUnavailable(
                        f"Storage is temporarily unavailable ({operation}); please retry shortly."
                    ) from exc

        return wrapper  # type: ignore[return-value]

    return decorator
