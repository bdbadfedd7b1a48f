"""The user store: accounts, uniqueness guards, password state and login throttles.

Every write to the users table goes through here. Uniqueness of username and email is a
property of the storage, not of a read-then-write: registration writes the account and
its two guard items in one transaction conditioned on the guards not existing (design §5).
Usernames and emails compare case-insensitively; the spelling given at registration is
kept for display.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib.accounts import passwords
from chalicelib.core import clock, pagination
from chalicelib.core.aws import storage_call
from chalicelib.core.errors import Conflict, NotFound, ValidationFailed
from chalicelib.core.observability import count, logger
from chalicelib.core.tables import UserModel, connection

ROLES = ("user", "admin")
USERNAME_RE = re.compile(r"[A-Za-z0-9_.-]{3,64}")
#: Deliberately loose: one @, no spaces, a dot in the domain. Deliverability is proven
#: by the reset email, not by a regular expression.
EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s.]+")
MAX_EMAIL_LENGTH = 254
MIN_PASSWORD_LENGTH = 10
#: Argon2 accepts anything, but hashing megabytes per request is a denial-of-service lever.
MAX_PASSWORD_LENGTH = 1024
LIST_PK = "user"
MAX_TX_ATTEMPTS = 4


# --- validation and keys ------------------------------------------------------


def validate_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise ValidationFailed("username must be 3-64 characters of A-Z a-z 0-9 _ . -")
    return username


def validate_email(email: str) -> str:
    if not isinstance(email, str) or len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.fullmatch(email):
        raise ValidationFailed("email is not a valid address")
    return email


def validate_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValidationFailed(f"password must be {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters long")
    return password


def user_key(user_id: str) -> str:
    return f"user#{user_id}"


def username_key(username: str) -> str:
    return f"username#{username.lower()}"


def email_key(email: str) -> str:
    return f"email#{email.casefold()}"


def login_key(username: str) -> str:
    return f"login#{username.lower()}"


# --- accounts -------------------------------------------------------------------


def _run_transaction(build: Any) -> TransactWriteError | None:
    """Commit; retry DynamoDB's transient TransactionConflict. Returns the condition
    failure (for the caller to interpret) instead of raising it."""
    for attempt in range(MAX_TX_ATTEMPTS):
        try:
            with TransactWrite(connection=connection()) as tx:
                build(tx)
            return None
        except TransactWriteError as exc:
            reasons = [r.code if r is not None else None for r in (exc.cancellation_reasons or [])]
            if "ConditionalCheckFailed" in reasons:
                return exc
            if "TransactionConflict" in reasons and attempt + 1 < MAX_TX_ATTEMPTS:
                time.sleep(random.uniform(0, 0.02 * 2**attempt))
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def create_user(*, username: str, email: str, password: str, role: str = "user") -> UserModel:
    """Create an active account; Conflict (409) when the username or email is taken."""
    validate_username(username)
    validate_email(email)
    validate_password(password)
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}")
    return _insert_user(username, email, passwords.hash_password(password), role)


@storage_call("create_user")
def _insert_user(username: str, email: str, password_hash: str, role: str) -> UserModel:
    user_id = str(uuid.uuid4())
    ts = clock.now_iso()
    user = UserModel(
        user_key(user_id),
        kind="user",
        user_id=user_id,
        username=username,
        email=email,
        password_hash=password_hash,
        password_version=0,
        password_changed_at=ts,
        role=role,
        is_active=True,
        created_at=ts,
        updated_at=ts,
        list_pk=LIST_PK,
    )
    guards = [
        UserModel(username_key(username), kind="username", user_id=user_id),
        UserModel(email_key(email), kind="email", user_id=user_id),
    ]

    def build(tx: TransactWrite) -> None:
        tx.save(user, condition=UserModel.pk.does_not_exist())
        for guard in guards:
            tx.save(guard, condition=UserModel.pk.does_not_exist())

    failed = _run_transaction(build)
    if failed is not None:
        reasons = [r.code if r is not None else None for r in (failed.cancellation_reasons or [])]
        # Items are [account, username guard, email guard]: name the first taken field.
        field = (
            "email"
            if reasons[1:2] != ["ConditionalCheckFailed"] and "ConditionalCheckFailed" in reasons[2:3]
            else "username"
        )
        raise Conflict(f"That {field} is already registered", details=[{"field": field, "problem": "taken"}])
    count("users.created")
    logger.info("user created", extra={"user_id": user_id, "role": role})
    return user


@dataclass(frozen=True)
class ImportedAccount:
    """An account brought over from the earlier service (design §16), already validated.

    `password_hash` None means the old hash's scheme is unknown: the account is imported
    with a password reset required.
    """

    user_id: str
    username: str
    email: str
    password_hash: str | None
    role: str
    is_active: bool
    created_at: str
    last_login: str | None = None
    legacy_id: str | None = None


@storage_call("import_user")
def import_account(account: ImportedAccount) -> bool:
    """Write an imported account with its guards; False when an account with this id
    exists already (never overwritten: a rerun, or a record newer than the import).
    Conflict when another account holds the username or email."""
    ts = clock.now_iso()
    user = UserModel(
        user_key(account.user_id),
        kind="user",
        user_id=account.user_id,
        username=account.username,
        email=account.email,
        password_hash=account.password_hash,
        password_version=0,
        password_changed_at=ts,
        password_reset_required=True if account.password_hash is None else None,
        role=account.role,
        is_active=account.is_active,
        created_at=account.created_at,
        updated_at=ts,
        last_login=account.last_login,
        legacy_id=account.legacy_id,
        list_pk=LIST_PK,
    )
    guards = [
        UserModel(username_key(account.username), kind="username", user_id=account.user_id),
        UserModel(email_key(account.email), kind="email", user_id=account.user_id),
    ]

    def build(tx: TransactWrite) -> None:
        tx.save(user, condition=UserModel.pk.does_not_exist())
        for guard in guards:
            tx.save(guard, condition=UserModel.pk.does_not_exist())

    failed = _run_transaction(build)
    if failed is None:
        count("users.imported")
        return True
    reasons = [r.code if r is not None else None for r in (failed.cancellation_reasons or [])]
    if reasons[:1] == ["ConditionalCheckFailed"]:
        return False
    field = "username" if reasons[1:2] == ["ConditionalCheckFailed"] else "email"
    raise Conflict(f"the {field} belongs to another account of this stage")


@storage_call("get_user")
def get_user(user_id: str) -> UserModel | None:
    """The account, read consistently: a password change or deactivation counts at once."""
    try:
        item = UserModel.get(user_key(user_id), consistent_read=True)
    except DoesNotExist:
        return None
    return item if item.kind == "user" else None


def require_user(user_id: str) -> UserModel:
    user = get_user(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


@storage_call("get_user_by_guard")
def _by_guard(key: str) -> UserModel | None:
    try:
        guard = UserModel.get(key, consistent_read=True)
    except DoesNotExist:
        return None
    return get_user(guard.user_id) if guard.user_id else None


def get_user_by_username(username: str) -> UserModel | None:
    """Case-insensitive lookup; None for names that cannot exist (no storage call)."""
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        return None
    return _by_guard(username_key(username))


def get_user_by_email(email: str) -> UserModel | None:
    if not isinstance(email, str) or len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.fullmatch(email):
        return None
    return _by_guard(email_key(email))


@dataclass(frozen=True)
class UserPage:
    users: list[UserModel]
    next_token: str | None


@storage_call("list_users")
def list_users(limit: int = 50, next_token: str | None = None) -> UserPage:
    """Accounts newest first through the sparse index; one Query per page."""
    scope = "users"
    start = pagination.decode(next_token, scope)
    result = UserModel.users_index.query(
        LIST_PK, scan_index_forward=False, limit=limit, page_size=limit, last_evaluated_key=start
    )
    items = [item for _, item in zip(range(limit), result, strict=False)]
    return UserPage(items, pagination.encode(result.last_evaluated_key, scope))


@storage_call("update_user")
def update_user(user_id: str, *, is_active: bool | None = None, role: str | None = None) -> UserModel:
    """Change status or role of an existing account (404 when absent)."""
    if role is not None and role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}")
    user = UserModel(user_key(user_id))
    actions: list[Any] = [UserModel.updated_at.set(clock.now_iso())]
    if is_active is not None:
        actions.append(UserModel.is_active.set(is_active))
    if role is not None:
        actions.append(UserModel.role.set(role))
    try:
        user.update(actions=actions, condition=UserModel.kind == "user")
    except UpdateError as exc:
        if _is_condition_failure(exc):
            raise NotFound("User not found") from None
        raise
    return user


@storage_call("record_login")
def record_login(user: UserModel, new_hash: str | None = None) -> None:
    """Stamp `last_login`; store a rehashed password when the parameters changed,
    unless the password changed meanwhile."""
    now = clock.now_iso()
    user.update(actions=[UserModel.last_login.set(now)])
    if new_hash is None:
        return
    try:
        user.update(
            actions=[UserModel.password_hash.set(new_hash)],
            condition=UserModel.password_version == user.password_version,
        )
    except UpdateError as exc:
        if not _is_condition_failure(exc):
            raise


@storage_call("set_password")
def set_password(user: UserModel, new_hash: str) -> bool:
    """Replace the password if nobody changed it since `user` was read. Bumping the
    version kills every older token; any outstanding reset token dies with it."""
    try:
        user.update(
            actions=_password_actions(new_hash),
            condition=UserModel.password_version == user.password_version,
        )
    except UpdateError as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


def _password_actions(new_hash: str) -> list[Any]:
    now = clock.now_iso()
    return [
        UserModel.password_hash.set(new_hash),
        UserModel.password_version.add(1),
        UserModel.password_changed_at.set(now),
        UserModel.updated_at.set(now),
        UserModel.reset_hash.remove(),
        UserModel.reset_issued_at.remove(),
        UserModel.reset_expires_at.remove(),
        UserModel.password_reset_required.remove(),
    ]


@storage_call("store_reset")
def store_reset(user: UserModel, token_hash: str, expires_at: datetime) -> None:
    """Keep only the newest reset token's hash: a new request supersedes older ones."""
    user.update(
        actions=[
            UserModel.reset_hash.set(token_hash),
            UserModel.reset_issued_at.set(clock.now_iso()),
            UserModel.reset_expires_at.set(clock.to_iso(expires_at)),
        ]
    )


@storage_call("consume_reset")
def consume_reset(user: UserModel, token_hash: str, new_hash: str) -> bool:
    """Set the new password only if this reset token is still the outstanding one:
    two concurrent confirmations of one token cannot both succeed."""
    try:
        user.update(actions=_password_actions(new_hash), condition=UserModel.reset_hash == token_hash)
    except UpdateError as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


@storage_call("delete_user")
def delete_user(user_id: str) -> None:
    """Remove the account and its guards (admin tooling, tests); idempotent."""
    user = get_user(user_id)
    if user is None:
        return
    with TransactWrite(connection=connection()) as tx:
        tx.delete(UserModel(user_key(user_id)))
        tx.delete(UserModel(username_key(user.username or "")))
        tx.delete(UserModel(email_key(user.email or "")))


def bootstrap_admin(username: str, password: str, email: str | None = None) -> tuple[UserModel, bool]:
    """Create the first admin unless the username exists; safe to run on every start
    and from racing containers (the loser finds the winner's account)."""
    existing = get_user_by_username(username)
    if existing is not None:
        if existing.role != "admin":
            logger.warning("bootstrap admin name belongs to a non-admin account", extra={"user_id": existing.user_id})
        return existing, False
    try:
        user = create_user(
            username=username,
            email=email or f"{username.lower()}@localhost.localdomain",
            password=password,
            role="admin",
        )
    except Conflict:
        existing = get_user_by_username(username)
        if existing is None:
            raise
        return existing, False
    return user, True


# --- login throttle -----------------------------------------------------------


@dataclass(frozen=True)
class LoginState:
    failures: int
    window_start: datetime | None
    locked_until: datetime | None


@storage_call("login_state")
def login_state(username: str) -> LoginState:
    try:
        item = UserModel.get(login_key(username), consistent_read=True)
    except DoesNotExist:
        return LoginState(0, None, None)
    return LoginState(
        int(item.failures or 0),
        clock.parse_iso(item.window_start) if item.window_start else None,
        clock.parse_iso(item.locked_until) if item.locked_until else None,
    )


@storage_call("record_login_failure")
def record_login_failure(username: str, *, window: timedelta, limit: int, lockout: timedelta) -> LoginState:
    """Count one failure in the username's window; the `limit`-th failure inside the
    window locks the name for `lockout`. Updates are conditional on the window we read,
    so concurrent failures are all counted."""
    key = login_key(username)
    for _ in range(MAX_TX_ATTEMPTS):
        state = login_state(username)
        now = clock.now()
        expires = now + window + lockout
        item = UserModel(key)
        try:
            if state.window_start is None or state.window_start <= now - window:
                fresh = UserModel(key, kind="login", failures=1, window_start=clock.to_iso(now), expires_at=expires)
                condition: Condition = UserModel.pk.does_not_exist()
                if state.window_start is not None:
                    condition = UserModel.window_start == clock.to_iso(state.window_start)
                fresh.save(condition=condition)
                failures, window_start = 1, now
            else:
                item.update(
                    actions=[UserModel.failures.add(1), UserModel.expires_at.set(expires)],
                    condition=UserModel.window_start == clock.to_iso(state.window_start),
                )
                failures, window_start = int(item.failures), state.window_start
        except (PutError, UpdateError) as exc:
            if _is_condition_failure(exc):
                continue  # another failure moved the window: count again on the new one
            raise
        if failures >= limit:
            locked_until = now + lockout
            # A fresh window after the lock: the next `limit` failures lock again.
            UserModel(
                key,
                kind="login",
                failures=0,
                window_start=clock.to_iso(locked_until),
                locked_until=clock.to_iso(locked_until),
                expires_at=locked_until + window,
            ).save()
            return LoginState(0, locked_until, locked_until)
        return LoginState(failures, window_start, state.locked_until)
    return login_state(username)


@storage_call("reserve_login_attempt")
def reserve_login_attempt(username: str, *, window: timedelta, limit: int, lockout: timedelta) -> datetime | None:
    """Count one attempt before its password is checked; None when it may proceed, else
    the time until which the name is locked (design §23: lockout cannot be raced).

    The count is one atomic ADD conditional on `failures < limit`, so however many
    attempts run in parallel at most `limit` of them reach the (slow) password check in a
    window; the attempt that takes the last slot locks the name. A successful login
    clears the count (`clear_login_failures`), so only failures add up.
    """
    key = login_key(username)
    for _ in range(MAX_TX_ATTEMPTS):
        state = login_state(username)
        now = clock.now()
        if state.locked_until is not None and state.locked_until > now:
            return state.locked_until
        expires = now + window + lockout
        try:
            if state.window_start is None or state.window_start <= now - window or state.locked_until is not None:
                condition: Condition = UserModel.pk.does_not_exist()
                if state.window_start is not None:
                    condition = UserModel.window_start == clock.to_iso(state.window_start)
                UserModel(key, kind="login", failures=1, window_start=clock.to_iso(now), expires_at=expires).save(
                    condition=condition
                )
                failures, window_start = 1, now
            else:
                item = UserModel(key)
                item.update(
                    actions=[UserModel.failures.add(1), UserModel.expires_at.set(expires)],
                    condition=(UserModel.window_start == clock.to_iso(state.window_start))
                    & (UserModel.failures < limit),
                )
                failures, window_start = int(item.failures), state.window_start
        except (PutError, UpdateError) as exc:
            if not _is_condition_failure(exc):
                raise
            fresh = login_state(username)
            if fresh.window_start == state.window_start and fresh.failures >= limit and fresh.locked_until is None:
                return now + lockout  # every slot of this window is taken: the taker is locking it
            continue  # another attempt moved the window: count again on the new one
        if failures >= limit:
            locked_until = now + lockout
            try:
                UserModel(key).update(
                    actions=[
                        UserModel.locked_until.set(clock.to_iso(locked_until)),
                        UserModel.expires_at.set(locked_until + window),
                    ],
                    condition=UserModel.window_start == clock.to_iso(window_start),
                )
            except UpdateError as exc:
                if not _is_condition_failure(exc):
                    raise
        return None
    return clock.now() + lockout


@storage_call("clear_login_failures")
def clear_login_failures(username: str) -> None:
    try:
        UserModel(login_key(username)).delete()
    except DeleteError:  # pragma: no cover - delete of an absent item succeeds in DynamoDB
        pass


def _is_condition_failure(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"
