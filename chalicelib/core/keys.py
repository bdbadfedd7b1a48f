"""The service secret (JWT signing, pagination-token MACs), loaded once per container.

Local and test stages read `AMR_JWT_SECRET`; deployed stages read the Secrets Manager
secret named in settings and refuse to serve without a strong one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import lru_cache

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core import aws
from chalicelib.core.errors import ConfigurationError
from chalicelib.core.observability import logger
from chalicelib.core.settings import get_settings

MIN_SECRET_LENGTH = 32


@lru_cache(maxsize=1)
def service_secret() -> bytes:
    settings = get_settings()
    if settings.is_local:
        value = os.environ.get("AMR_JWT_SECRET", "")
        if not value:
            # Local convenience only: a per-process secret means tokens die with the process.
            logger.warning("AMR_JWT_SECRET is unset; using a random secret for this process")
            value = secrets.token_urlsafe(48)
    else:
        try:
            value = aws.client("secretsmanager").get_secret_value(SecretId=settings.jwt_secret_name)["SecretString"]
        except (BotoCoreError, ClientError, KeyError) as exc:
            raise ConfigurationError(f"JWT secret {settings.jwt_secret_name!r} cannot be read") from exc
    if len(value) < MIN_SECRET_LENGTH:
        if not settings.is_local:
            raise ConfigurationError(f"JWT secret must be at least {MIN_SECRET_LENGTH} characters")
        logger.warning("AMR_JWT_SECRET is shorter than %d characters", MIN_SECRET_LENGTH)
    return value.encode()


def derived_key(purpose: str) -> bytes:
    """A key for one purpose, so a MAC made for one use is useless for another."""
    return hmac.new(service_secret(), purpose.encode(), hashlib.sha256).digest()


def reset_secret() -> None:
    service_secret.cache_clear()
