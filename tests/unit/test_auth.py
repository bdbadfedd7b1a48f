"""Tokens, login and email (`accounts.auth`), below the HTTP layer: token claims and the
service clock, the bearer header, what a login costs, lockout, rehashing, mail delivery."""
from __future__ import annotations

import dataclasses
import io
import logging
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends

from chalicelib.accounts import auth, passwords, users
from chalicelib.core import aws
from chalicelib.core.clock import FakeClock
from chalicelib.core.errors import TooManyRequests, Unauthorized
from chalicelib.core.observability import logger
from chalicelib.core.settings import get_settings

# --- tokens ----------------------------------------------------------------------------------


def _user(**overrides: Any) -> Any:
    return SimpleNamespace(user_id="6f1c5bb1-0f6e-4c55-9d2e-3f1b4a3f4a11", role="user", password_version=3, **overrides)


def test_issued_token_has_exactly_the_documented_claims(fake_clock: FakeClock) -> None:
    token = auth.issue_token(_user())
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = auth.decode_token(token)
    settings = get_settings()
    assert claims == {
        "sub": "6f1c5bb1-0f6e-4c55-9d2e-3f1b4a3f4a11",
        "role": "user",
        "iat": 1795521600,
        "exp": 1795521600 + 3600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "pv": 3,
    }


def test_time_claims_follow_the_service_clock(fake_clock: FakeClock) -> None:
    token = auth.issue_token(_user())
    fake_clock.advance(seconds=3599)
    auth.decode_token(token)
    fake_clock.advance(seconds=1)
    with pytest.raises(Unauthorized):
        auth.decode_token(token)


def test_small_clock_skew_is_tolerated_but_not_more(fake_clock: FakeClock) -> None:
    token = auth.issue_token(_user())
    fake_clock.advance(seconds=-auth.CLOCK_SKEW_SECONDS)
    auth.decode_token(token)
    fake_clock.advance(seconds=-1)
    with pytest.raises(Unauthorized):
        auth.decode_token(token)


@pytest.mark.parametrize(
    "header,ok",
    [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer  abc ", "abc"), ("BEARER abc", "abc"),
     ("Bearer", None), ("Basic abc", None), ("", None), ("abc", None)],
)
def test_bearer_header_parsing(header: str, ok: str | None) -> None:
    request = SimpleNamespace(headers={"authorization": header})
    if ok is None:
        with pytest.raises(Unauthorized):
            auth._bearer(request)  # type: ignore[arg-type]
    else:
        assert auth._bearer(request) == ok  # type: ignore[arg-type]


# --- login -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_env")
def test_unknown_user_costs_one_argon2_verification_like_a_known_one(monkeypatch: pytest.MonkeyPatch) -> None:
    users.create_user(username="known", email="k@example.org", password="correct-horse-1")
    real = passwords.hasher()
    calls: list[str] = []

    class Spy:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def verify(self, stored: str, password: str) -> bool:
            calls.append(password)
            return real.verify(stored, password)

    monkeypatch.setattr(passwords, "hasher", lambda: Spy())
    passwords._dummy_hash()  # built once per container, not per request
    for name in ("known", "unknown"):
        calls.clear()
        with pytest.raises(Unauthorized) as raised:
            auth.login(name, "wrong-password")
        assert calls == ["wrong-password"], name
        assert raised.value.message == "Invalid username or password"


@pytest.mark.usefixtures("aws_env")
def test_lock_state_and_retry_after(fake_clock: FakeClock) -> None:
    for i in range(4):
        state = users.record_login_failure("name", window=auth.LOGIN_WINDOW, limit=5, lockout=auth.LOCKOUT)
        assert state.failures == i + 1 and state.locked_until is None
    state = users.record_login_failure("NAME", window=auth.LOGIN_WINDOW, limit=5, lockout=auth.LOCKOUT)
    assert state.locked_until == fake_clock() + auth.LOCKOUT
    fake_clock.advance(seconds=100.2)
    with pytest.raises(TooManyRequests) as raised:
        auth.login("name", "whatever-password")
    assert raised.value.headers == {"Retry-After": "800"}  # rounded up, never 0


@pytest.mark.usefixtures("aws_env")
def test_login_rehashes_passwords_made_with_other_parameters() -> None:
    user = users.create_user(username="legacy", email="l@example.org", password="correct-horse-1")
    old = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash("correct-horse-1")
    user.update(actions=[users.UserModel.password_hash.set(old)])
    auth.login("legacy", "correct-horse-1")
    stored = users.get_user(user.user_id)
    assert stored is not None and stored.password_hash != old
    assert not passwords.hasher().check_needs_rehash(stored.password_hash)
    assert stored.password_version == 0  # a rehash is not a password change: tokens stay valid


# --- email -----------------------------------------------------------------------------------


def _capture_logs() -> tuple[io.StringIO, logging.Handler]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    return buffer, handler


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("stage", ["local", "prod"])
def test_local_stage_logs_the_mail_deployed_stages_send_it(monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    settings = dataclasses.replace(get_settings(), stage=stage)
    monkeypatch.setattr(auth, "get_settings", lambda: settings)
    aws.client("ses").verify_email_identity(EmailAddress=settings.mail_sender)
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    before = len(backend.sent_messages)
    buffer, handler = _capture_logs()
    level = logger.log_level
    logger.setLevel("INFO")
    try:
        auth.send_email("to@example.org", "Subject", "body with TOKEN-123")
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
    sent = backend.sent_messages[before:]
    if stage == "local":
        assert sent == [] and "TOKEN-123" in buffer.getvalue()
    else:
        assert [m.destinations["ToAddresses"] for m in sent] == [["to@example.org"]]
        assert "TOKEN-123" in sent[0].body and "TOKEN-123" not in buffer.getvalue()


@pytest.mark.usefixtures("aws_env")
def test_a_failed_send_is_logged_not_raised() -> None:
    # the sender is not verified: SES (moto) rejects the message
    buffer, handler = _capture_logs()
    try:
        auth.send_email("to@example.org", "Subject", "body with TOKEN-456")
    finally:
        logger.removeHandler(handler)
    logs = buffer.getvalue()
    assert "email not sent" in logs and "MessageRejected" in logs and "TOKEN-456" not in logs
