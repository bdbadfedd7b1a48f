"""Password hashing: Argon2id, the only form in which passwords are stored.

Its own module so that the account store (`users`) and authentication (`auth`) both
use it without importing each other. Argon2id with 19 MiB, 2 passes, 1 lane (OWASP's
baseline; fits a 128 MB Lambda, ~16 ms per hash). Passwords are NFKC-normalised first
so composed and decomposed spellings of one password match. The `test` stage uses cheap
parameters (AMR_ARGON2_TIME_COST, AMR_ARGON2_MEMORY_KIB override them there); other
stages ignore those variables.

Accounts imported from the earlier service (design §16) may carry bcrypt (`$2a$`/`$2b$`/
`$2y$`) or passlib `pbkdf2_sha256` hashes. Those are verified with the `bcrypt` and
passlib (`libpass`) libraries, imported only when such a hash is seen so the Lambda's
cold start does not pay for them, and `needs_rehash` says True for them so the first
successful login stores Argon2id instead. The earlier service hashed passwords as typed,
so legacy hashes are checked against the password as given, not NFKC-normalised.
"""

from __future__ import annotations

import os
import re
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
    cost = argon2_parameters()
    return PasswordHasher(
        time_cost=cost["time_cost"], memory_cost=cost["memory_cost"], parallelism=cost["parallelism"], type=Type.ID
    )


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    return hasher().hash(normalise(password))


ARGON2, BCRYPT, PBKDF2_SHA256 = "argon2", "bcrypt", "pbkdf2_sha256"
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_BCRYPT_FORMAT = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
#: bcrypt only ever used the first 72 bytes; the library now refuses longer input.
_BCRYPT_MAX_BYTES = 72


def hash_scheme(stored_hash: str | None) -> str | None:
    """Which supported scheme a stored hash is in; None for anything else."""
    if not stored_hash:
        return None
    if stored_hash.startswith(("$argon2id$", "$argon2i$", "$argon2d$")):
        return ARGON2
    if stored_hash.startswith(_BCRYPT_PREFIXES):
        return BCRYPT
    if stored_hash.startswith("$pbkdf2-sha256$"):
        return PBKDF2_SHA256
    return None


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; never raises for a wrong, corrupt or unknown hash."""
    scheme = hash_scheme(stored_hash)
    if scheme is None or stored_hash is None:
        _burn(password)
        return False
    try:
        if scheme == BCRYPT:
            return _verify_bcrypt(stored_hash, password)
        if scheme == PBKDF2_SHA256:
            return _verify_pbkdf2(stored_hash, password)
        return hasher().verify(stored_hash, normalise(password))
    except (VerificationError, InvalidHashError, ValueError, TypeError):
        return False


def _verify_bcrypt(stored_hash: str, password: str) -> bool:
    import bcrypt  # only accounts imported with a bcrypt hash need it

    return bool(bcrypt.checkpw(password.encode("utf-8")[:_BCRYPT_MAX_BYTES], stored_hash.encode("ascii")))


def _verify_pbkdf2(stored_hash: str, password: str) -> bool:
    from passlib.hash import pbkdf2_sha256  # only accounts imported with such a hash need it

    return bool(pbkdf2_sha256.verify(password, stored_hash))


def is_supported_hash(stored_hash: str | None) -> bool:
    """Could a login ever succeed against this hash? (False means: reset required.)"""
    scheme = hash_scheme(stored_hash)
    if scheme == PBKDF2_SHA256:
        from passlib.hash import pbkdf2_sha256

        try:
            pbkdf2_sha256.from_string(stored_hash)  # parses rounds, salt and checksum
        except (ValueError, TypeError):
            return False
        return True
    if scheme == BCRYPT:
        return bool(_BCRYPT_FORMAT.fullmatch(stored_hash or ""))
    if scheme == ARGON2:
        from argon2 import extract_parameters

        try:
            extract_parameters(stored_hash or "")
        except InvalidHashError:
            return False
    return scheme is not None


def needs_rehash(stored_hash: str | None) -> bool:
    """True for legacy schemes and for Argon2 hashes with other parameters or type."""
    if hash_scheme(stored_hash) != ARGON2 or stored_hash is None:
        return True
    try:
        return hasher().check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def _burn(password: str) -> None:
    """Spend the work of one verification so unknown users answer as slowly as known ones."""
    try:
        hasher().verify(_dummy_hash(), normalise(password))
    except (VerificationError, InvalidHashError):
        pass
