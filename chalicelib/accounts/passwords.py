"""Password hashing: Argon2id, the only form in which passwords are stored.

Its own module so that the account store (`users`) and authentication (`auth`) both
use it without importing each other. Argon2id with 19 MiB, 2 passes, 1 lane (OWASP's
baseline; fits a 128 MB Lambda, ~16 ms per hash). Passwords are NFKC-normalised first
so composed and decomposed spellings of one password match. The `test` stage uses cheap
parameters (AMR_ARGON2_TIME_COST, AMR_ARGON2_MEMORY_KIB override them there); other
stages ignore those variables.
"""
from __future__ import annotations

import os
import secrets
import unicodedata
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from chalicelib.core.settings import get_settings

PRODUCTION_ARGON2 = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
TEST_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


def argon2_parameters(stage: str | None = None, environ: dict[str, str] | None = None) -> dict[str, int]:
    """Production parameters everywhere but the test stage, where env may lower them."""
    stage = stage or get_settings().stage
    if stage != "test":
        return dict(PRODUCTION_ARGON2)
    env = os.environ if environ is None else environ
    params = dict(TEST_ARGON2)
    for key, name in (("time_cost", "AMR_ARGON2_TIME_COST"), ("memory_cost", "AMR_ARGON2_MEMORY_KIB")):
        value = env.get(name, "")
        if value.isdigit() and int(value) > 0:
            params[key] = int(value)
    return params


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    return PasswordHasher(type=Type.ID, **argon2_parameters())


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return hasher().hash(normalise(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; never raises for a wrong or corrupt hash."""
    if not stored_hash:
        _burn(password)
        return False
    try:
        return hasher().verify(stored_hash, normalise(password))
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _burn(password: str) -> None:
    """Spend the work of one verification so unknown users answer as slowly as known ones."""
    try:
        hasher().verify(_dummy_hash(), normalise(password))
    except (VerificationError, InvalidHashError):
        pass
