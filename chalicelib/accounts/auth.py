"""Passwords, access tokens, login throttling and password reset (design §8).

Decisions (see the report / docs):
- Passwords: Argon2id (`chalicelib.accounts.passwords` says how).
- Tokens: HS256 only, claims sub/role/iat/exp/iss/aud plus `pv`, the account's password
  version: a password change bumps it, so every older token dies exactly — `iat` in
  whole seconds could not separate a token from a change in the same second. Time
  claims are checked against `chalicelib.core.clock` so tests inject time.
- Every authenticated request reads the account (one consistent GetItem, ~1 RCU):
  deactivation, role changes and password changes count immediately, on every
  container, instead of within a cache period. Role comes from the account, not from
  the token. A deactivated account gets 403 `account_disabled`: its token is authentic,
  the account is refused (logging in again will not help).
- Login: unknown user and wrong password give the same 401 body after the same Argon2
  work (a dummy hash is verified for unknown names). Failures are counted per username
  whether or not it exists (so throttling reveals nothing); the 5th failure within 15
  minutes locks the name for 15 minutes: 429 with Retry-After, even for the right password.
- Imported accounts (design §16): a legacy bcrypt / pbkdf2_sha256 / Argon2 hash works at
  login and is replaced by Argon2id at the first success. An account imported with a
  hash of an unknown scheme answers 403 `password_reset_required` until its owner sets a
  password through the reset flow (the username is no secret: registration says it is
  taken).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import uuid
from datetime import timedelta
from typing import Any

import jwt
from botocore.exceptions import BotoCoreError, ClientError
from chalice.app import Request

from chalicelib.accounts import passwords, users
from chalicelib.core import clock, observability, web
from chalicelib.core.aws import client
from chalicelib.core.errors import BadRequest, Conflict, Forbidden, TooManyRequests, Unauthorized
from chalicelib.core.invoke import invoke_async
from chalicelib.core.keys import service_secret
from chalicelib.core.observability import count, logger
from chalicelib.core.settings import get_settings
from chalicelib.core.tables import UserModel
from chalicelib.core.web import Caller

ALGORITHM = "HS256"
TOKEN_TTL = timedelta(hours=1)
#: Tolerated clock difference between the container that issued a token and this one.
CLOCK_SKEW_SECONDS = 10
MAX_TOKEN_LENGTH = 4096
REQUIRED_CLAIMS = ("sub", "role", "iat", "exp", "iss", "aud", "pv")

LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_LIMIT = 5
LOCKOUT = timedelta(minutes=15)

RESET_TTL = timedelta(hours=1)
#: A second reset request within this interval sends nothing (mail-bombing guard).
RESET_MIN_INTERVAL = timedelta(seconds=60)


_BAD_CREDENTIALS = "Invalid username or password"
_BAD_TOKEN = "The access token is invalid or expired; log in again"
_BAD_RESET = "The reset token is invalid, expired or already used"


class AccountDisabled(Forbidden):
    code = "account_disabled"


class PasswordResetRequired(Forbidden):
    """An account imported with a password hash we cannot verify (design §16)."""

    code = "password_reset_required"


def _unauthorized(message: str = _BAD_TOKEN) -> Unauthorized:
    return Unauthorized(message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


# --- tokens -----------------------------------------------------------------------


def issue_token(user: UserModel) -> str:
    settings = get_settings()
    issued = int(clock.now().timestamp())
    claims = {
        "sub": user.user_id,
        "role": user.role,
        "iat": issued,
        "exp": issued + int(TOKEN_TTL.total_seconds()),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "pv": int(user.password_version or 0),
    }
    return jwt.encode(claims, service_secret(), algorithm=ALGORITHM)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_token(token: str) -> dict[str, Any]:
    """Verified claims, or Unauthorized. Signature, algorithm, iss and aud by PyJWT;
    time claims here against the service clock."""
    settings = get_settings()
    if len(token) > MAX_TOKEN_LENGTH:
        raise _unauthorized()
    try:
        claims = jwt.decode(
            token,
            service_secret(),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        logger.info("token rejected", extra={"reason": type(exc).__name__})
        raise _unauthorized() from None
    now = clock.now().timestamp()
    iat: Any = claims.get("iat")
    exp: Any = claims.get("exp")
    nbf: Any = claims.get("nbf", 0)
    problems = [
        not (_is_int(iat) and _is_int(exp) and _is_int(nbf)) and "time claims are not integers",
        not isinstance(claims.get("sub"), str) and "sub is not a string",
        not _is_int(claims.get("pv")) and "pv is not an integer",
    ]
    if not any(problems):
        problems += [
            exp <= now and "expired",
            iat > now + CLOCK_SKEW_SECONDS and "issued in the future",
            nbf > now + CLOCK_SKEW_SECONDS and "not yet valid",
        ]
    reasons = [p for p in problems if p]
    if reasons:
        logger.info("token rejected", extra={"reason": reasons[0]})
        raise _unauthorized()
    return claims


def _bearer(request: Request) -> str:
    header = web.header(request, "authorization") or ""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "This route needs 'Authorization: Bearer <token>'; get one from POST /auth/login",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def authenticate(request: Request) -> Caller:
    """The caller of a non-public route, from its bearer token and current account."""
    claims = decode_token(_bearer(request))
    try:
        uuid.UUID(claims["sub"])
    except ValueError:
        raise _unauthorized() from None
    user = users.get_user(claims["sub"])
    if user is None:
        logger.info("token rejected", extra={"reason": "no such user"})
        raise _unauthorized()
    if int(user.password_version or 0) != claims["pv"]:
        logger.info("token rejected", extra={"reason": "password changed", "user_id": user.user_id})
        raise _unauthorized()
    if not user.is_active:
        raise AccountDisabled("This account is deactivated; contact an administrator")
    return Caller(user_id=str(user.user_id), role=str(user.role), username=user.username)


# --- login --------------------------------------------------------------------------


def _retry_after(locked_until: Any) -> TooManyRequests:
    seconds = max(1, math.ceil((locked_until - clock.now()).total_seconds()))
    return TooManyRequests(
        f"Too many failed logins for this username; try again in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


def login(username: str, password: str) -> tuple[UserModel, str]:
    """Check credentials under the throttle; returns the account and a fresh token."""
    locked_until = users.reserve_login_attempt(username, window=LOGIN_WINDOW, limit=LOGIN_LIMIT, lockout=LOCKOUT)
    if locked_until is not None:
        count("auth.login.locked")
        raise _retry_after(locked_until)
    user = users.get_user_by_username(username)
    if user is not None and user.password_reset_required:
        passwords.verify_password(None, password)  # the same work as any other answer
        raise PasswordResetRequired(
            "This account was migrated without a usable password; set a new one with "
            "POST /auth/password-reset (a token is emailed to the account's address)"
        )
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if not ok or user is None:
        count("auth.login.failed")  # the attempt was counted before the check
        raise Unauthorized(_BAD_CREDENTIALS)
    users.clear_login_failures(username)
    if not user.is_active:
        raise AccountDisabled("This account is deactivated; contact an administrator")
    # Legacy (imported) hashes and older Argon2 parameters become today's Argon2id here.
    new_hash = passwords.hash_password(password) if passwords.needs_rehash(user.password_hash) else None
    users.record_login(user, new_hash)
    count("auth.login.ok")
    return user, issue_token(user)


def change_password(user_id: str, current_password: str, new_password: str) -> None:
    """Wrong current passwords count against the login throttle like failed logins."""
    user = users.require_user(user_id)
    name = str(user.username)
    locked_until = users.reserve_login_attempt(name, window=LOGIN_WINDOW, limit=LOGIN_LIMIT, lockout=LOCKOUT)
    if locked_until is not None:
        raise _retry_after(locked_until)
    if not passwords.verify_password(user.password_hash, current_password):
        raise Forbidden("current_password is incorrect")
    users.clear_login_failures(name)
    if passwords.normalise(new_password) == passwords.normalise(current_password):
        raise BadRequest("new_password must differ from current_password")
    users.validate_password(new_password)
    if not users.set_password(user, passwords.hash_password(new_password)):
        raise Conflict("The password was changed concurrently; log in again")
    logger.info("password changed", extra={"user_id": user.user_id})


# --- password reset -----------------------------------------------------------------


def _token_hash(token: str) -> str:
    """SHA-256 suffices: the token carries 256 random bits, nothing to brute-force."""
    return hashlib.sha256(token.encode()).hexdigest()


RESET_FUNCTION = "send_password_reset"


def queue_password_reset(email: str) -> None:
    """All a reset request does, whatever the address: queue it for the
    `send_password_reset` function. The lookup, the token and the email happen there,
    so the response time says nothing about which addresses have accounts."""
    invoke_async(RESET_FUNCTION, {"email": email})


def handle_reset_event(event: Any) -> dict[str, str]:
    """Body of the `send_password_reset` function (invoked asynchronously)."""
    observability.reset_context()
    try:
        email = event.get("email") if isinstance(event, dict) else None
        if not isinstance(email, str) or not email.strip():
            logger.warning("password reset event without an address; ignored")
            return {"status": "ignored"}
        request_password_reset(email)
        return {"status": "done"}
    finally:
        observability.flush()


def request_password_reset(email: str) -> None:
    """Send a reset token to the address if it belongs to an active account; the caller
    answers 202 either way, so the response says nothing about the address."""
    user = users.get_user_by_email(email)
    if user is None or not user.is_active:
        logger.info("password reset requested for no active account")
        return
    now = clock.now()
    if user.reset_issued_at and clock.parse_iso(user.reset_issued_at) > now - RESET_MIN_INTERVAL:
        logger.info("password reset re-requested too soon; not sent", extra={"user_id": user.user_id})
        return
    token = f"{user.user_id}.{secrets.token_urlsafe(32)}"
    users.store_reset(user, _token_hash(token), now + RESET_TTL)
    minutes = int(RESET_TTL.total_seconds() // 60)
    send_email(
        str(user.email),
        "Your AMR service password reset",
        f"Hello {user.username},\n\nsomeone asked to reset the password of this account. If it was you, "
        f"send this token within {minutes} minutes:\n\n"
        f'  POST /auth/password-reset/confirm  {{"token": "{token}", "new_password": "..."}}\n\n'
        "The token works once. If you did not ask, ignore this email; your password is unchanged.\n",
    )
    count("auth.reset.sent")


def confirm_password_reset(token: str, new_password: str) -> None:
    """Set a new password with a reset token: single use, 1 h, newest token only."""
    user_id, _, _ = token.partition(".")
    try:
        canonical = str(uuid.UUID(user_id))
    except ValueError:
        raise BadRequest(_BAD_RESET) from None
    user = users.get_user(canonical) if canonical == user_id.lower() else None
    token_hash = _token_hash(token)
    valid = (
        user is not None
        and bool(user.is_active)
        and bool(user.reset_hash)
        and hmac.compare_digest(str(user.reset_hash), token_hash)
        and bool(user.reset_expires_at)
        and clock.parse_iso(str(user.reset_expires_at)) > clock.now()
    )
    if not valid or user is None:
        raise BadRequest(_BAD_RESET)
    users.validate_password(new_password)
    if not users.consume_reset(user, token_hash, passwords.hash_password(new_password)):
        raise BadRequest(_BAD_RESET)
    users.clear_login_failures(str(user.username))
    logger.info("password reset completed", extra={"user_id": user.user_id})


def send_email(to: str, subject: str, text: str) -> None:
    """SES in AWS (and moto in tests); the local stage logs the message instead, token
    included, because that log is the local user's only mailbox. Deployed stages never
    log the body. A failed send is logged, not raised: the reset request answers 202."""
    settings = get_settings()
    if settings.stage == "local":
        logger.info("email (local stage: logged, not sent)", extra={"to": to, "subject": subject, "body": text})
        return
    try:
        client("ses").send_email(
            Source=settings.mail_sender,
            Destination={"ToAddresses": [to]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
            },
        )
    except (BotoCoreError, ClientError) as exc:
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
        logger.warning("email not sent", extra={"subject": subject, "error": code})
        count("email.failed")
