"""Password hashing (`accounts.passwords`): Argon2id and its cost per stage, and the
earlier service's hashes (design §16) — which are recognised, verified and rehashed, and
that the Lambda loads their libraries only when such a hash is seen."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest
from argon2 import PasswordHasher, Type
from passlib.hash import pbkdf2_sha256

from chalicelib.accounts import passwords

ROOT = Path(__file__).resolve().parents[2]
LONG = "p" * 80  # longer than bcrypt's 72 bytes


@pytest.mark.parametrize("stage", ["prod", "dev", "local"])
def test_deployed_and_local_stages_ignore_cost_overrides(stage: str) -> None:
    env = {"AMR_ARGON2_TIME_COST": "1", "AMR_ARGON2_MEMORY_KIB": "8"}
    assert passwords.argon2_parameters(stage, env) == {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}


def test_test_stage_is_cheap_and_overridable() -> None:
    assert passwords.argon2_parameters("test", {}) == passwords.TEST_ARGON2
    env = {"AMR_ARGON2_TIME_COST": "3", "AMR_ARGON2_MEMORY_KIB": "abc"}
    assert passwords.argon2_parameters("test", env) == {**passwords.TEST_ARGON2, "time_cost": 3}


def test_production_hash_is_argon2id_with_the_documented_cost() -> None:
    stored = PasswordHasher(**passwords.argon2_parameters("prod")).hash("correct-horse-1")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify_password(stored, "correct-horse-1")  # the service's hasher verifies any cost


def test_hash_is_argon2id_salted_and_verifies() -> None:
    first, second = passwords.hash_password("correct-horse-1"), passwords.hash_password("correct-horse-1")
    assert first.startswith("$argon2id$") and first != second
    assert "correct-horse-1" not in first
    assert passwords.verify_password(first, "correct-horse-1")
    assert not passwords.verify_password(first, "correct-horse-2")


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$m=1024,t=1,p=1$garbage"])
def test_missing_or_corrupt_hash_never_verifies_nor_raises(stored: str | None) -> None:
    assert passwords.verify_password(stored, "anything-at-all") is False


def test_passwords_compare_after_unicode_normalisation() -> None:
    stored = passwords.hash_password("caf\u00e9-latte-42")
    assert passwords.verify_password(stored, "cafe\u0301-latte-42")


@pytest.mark.parametrize("stored,scheme", [
    (bcrypt.hashpw(b"pw-123456789", bcrypt.gensalt(4)).decode(), "bcrypt"),
    (bcrypt.hashpw(b"pw-123456789", bcrypt.gensalt(4, prefix=b"2a")).decode(), "bcrypt"),
    (pbkdf2_sha256.using(rounds=1000).hash("pw-123456789"), "pbkdf2_sha256"),
    (PasswordHasher(type=Type.I, time_cost=1, memory_cost=64).hash("pw-123456789"), "argon2"),
    (PasswordHasher(type=Type.ID, time_cost=1, memory_cost=64).hash("pw-123456789"), "argon2"),
], ids=["bcrypt-2b", "bcrypt-2a", "pbkdf2_sha256", "argon2i", "argon2id"])  # salted: values differ per xdist worker
def test_known_schemes_verify_and_ask_for_a_rehash(stored: str, scheme: str) -> None:
    assert passwords.hash_scheme(stored) == scheme and passwords.is_supported_hash(stored)
    assert passwords.verify_password(stored, "pw-123456789")
    assert not passwords.verify_password(stored, "pw-12345678")
    assert passwords.needs_rehash(stored)  # legacy scheme or other Argon2 parameters


@pytest.mark.parametrize("stored", [
    "5f4dcc3b5aa765d61d8327deb882cf99", "sha1$abc$def", "$2b$04$tooshort", "$pbkdf2-sha256$x$y", "$argon2id$garbage", "",
])
def test_unknown_or_malformed_hashes_are_not_supported_and_never_verify(stored: str) -> None:
    assert not passwords.is_supported_hash(stored)
    assert passwords.verify_password(stored, "anything") is False


def test_bcrypt_compares_the_first_72_bytes_as_the_earlier_service_did() -> None:
    stored = bcrypt.hashpw(LONG[:72].encode(), bcrypt.gensalt(4)).decode()
    assert passwords.verify_password(stored, LONG)


def test_current_argon2id_needs_no_rehash() -> None:
    assert not passwords.needs_rehash(passwords.hash_password("correct-horse-1"))


def test_the_lambda_loads_no_legacy_hash_library_for_argon2_logins() -> None:
    code = (
        "import sys, app\n"
        "from chalicelib.accounts import passwords\n"
        "h = passwords.hash_password('correct-horse-1')\n"
        "assert passwords.verify_password(h, 'correct-horse-1') and not passwords.needs_rehash(h)\n"
        "print(sorted(m for m in ('bcrypt', 'passlib') if m in sys.modules))\n"
    )
    env = {**os.environ, "AMR_STAGE": "test"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
