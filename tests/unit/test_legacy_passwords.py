"""Legacy password hashes (SPEC §16): which are recognised, verified and rehashed, and
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
from tools.legacy_import import Rejected, parse_time

ROOT = Path(__file__).resolve().parents[2]
LONG = "p" * 80  # longer than bcrypt's 72 bytes


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


@pytest.mark.parametrize("text,expected", [
    ("2024-01-02 03:04:05", "2024-01-02T03:04:05.000Z"),
    ("2024-01-02T03:04:05.123456", "2024-01-02T03:04:05.123Z"),
    ("2024-01-02T03:04:05+02:00", "2024-01-02T01:04:05.000Z"),
    ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000Z"),
    ("2024-01-02", "2024-01-02T00:00:00.000Z"),
    (1704164645, "2024-01-02T03:04:05.000Z"),
])
def test_legacy_timestamps_become_utc_with_milliseconds(text: object, expected: str) -> None:
    assert parse_time(text, "created_at") == expected


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01", "12:00"])
def test_bad_legacy_timestamps_are_rejected_with_the_value(text: str) -> None:
    with pytest.raises(Rejected, match="is not a timestamp"):
        parse_time(text, "created_at")
