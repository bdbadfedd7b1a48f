"""Accounts and authentication through the HTTP API on moto (design §5, §8).

Every test asserts the exact status: attacks on tokens, logins, resets and request bodies
must end in a precise 4xx with our error format, never a 500 and never a leak.
"""
from __future__ import annotations

import base64
import json
import re
import threading
from typing import Any

import jwt
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend
from moto.ses import ses_backends

from chalicelib.accounts import users
from chalicelib.core import aws
from chalicelib.core.clock import FakeClock
from chalicelib.core.settings import get_settings

JSON = {"Content-Type": "application/json"}
SECRET = "test-secret-" + "x" * 40  # tests/conftest.py sets AMR_JWT_SECRET to this
PASSWORD = "correct-horse-1"  # the make_user fixture's password


# --- helpers ----------------------------------------------------------------------------


def post(client: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.http.post(path, body=raw, headers=headers or JSON)


def register(client: Any, username: str = "alice", email: str | None = None, password: str = "0123456789") -> Any:
    return post(client, "/auth/register", {"username": username, "password": password, "email": email or f"{username}@example.org"})


def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    return post(client, "/auth/login", {"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **JSON}


def me(client: Any, headers: dict[str, str]) -> Any:
    return client.http.get("/auth/me", headers=headers)


def error_code(response: Any) -> str:
    return json.loads(response.body)["error"]["code"]


def claims_for(user_id: str, **overrides: Any) -> dict[str, Any]:
    """Claims exactly as the service issues them at the fake clock's start."""
    settings = get_settings()
    iat = 1795521600  # 2026-11-24T12:00:00Z, conftest.START
    base = {"sub": user_id, "role": "user", "iat": iat, "exp": iat + 3600, "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience, "pv": 0}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def forge(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def mailbox(aws_env: None, run_async: Any) -> Any:
    """SES on moto with the sender verified; returns the messages sent to an address
    once the queued reset invocations have run (as Lambda runs them, after the 202)."""
    aws.client("ses").verify_email_identity(EmailAddress=get_settings().mail_sender)
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]

    def sent_to(address: str) -> list[Any]:
        run_async()
        return [m for m in backend.sent_messages if address in m.destinations.get("ToAddresses", [])]

    return sent_to


def reset_token_from(message: Any) -> str:
    match = re.search(r'"token": "([^"]+)"', message.body)
    assert match, message.body
    return match.group(1)


# --- registration -----------------------------------------------------------------------


def test_register_returns_the_user_and_never_the_password(client: Any) -> None:
    response = register(client, "Alice", "Alice@Example.org")
    assert response.status_code == 201
    body = json.loads(response.body)
    assert set(body) == {"user_id", "username", "email", "role", "is_active", "created_at", "last_login"}
    assert body["username"] == "Alice" and body["email"] == "Alice@Example.org"
    assert body["role"] == "user" and body["is_active"] is True and body["last_login"] is None
    assert body["created_at"] == "2026-11-24T12:00:00.000Z"
    assert b"0123456789" not in response.body and b"argon2" not in response.body
    stored = users.get_user(body["user_id"])
    assert stored is not None and stored.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    "second",
    [
        {"username": "ALICE", "email": "other@example.org"},  # username, other case
        {"username": "alice2", "email": "ALICE@EXAMPLE.ORG"},  # email, other case
    ],
)
def test_username_and_email_are_unique_case_insensitively(client: Any, second: dict[str, str]) -> None:
    assert register(client, "alice", "alice@example.org").status_code == 201
    response = register(client, second["username"], second["email"])
    assert response.status_code == 409
    field = "username" if second["username"] == "ALICE" else "email"
    assert json.loads(response.body)["error"]["details"] == [{"field": field, "problem": "taken"}]


def test_register_cannot_choose_a_role(client: Any) -> None:
    response = post(client, "/auth/register", {"username": "mallory", "password": "0123456789",
                                               "email": "m@example.org", "role": "admin"})
    assert response.status_code == 400
    assert users.get_user_by_username("mallory") is None


@pytest.fixture
def serializable_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto checks and applies a transaction without a lock; DynamoDB serialises
    transactions on the same items. Restore that guarantee so the race is DynamoDB's."""
    lock = threading.Lock()
    original = DynamoDBBackend.transact_write_items

    def locked(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with lock:
            return original(self, transact_items)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", locked)


@pytest.mark.parametrize("clash", ["username", "email"])
def test_racing_registrations_exactly_one_wins(client: Any, serializable_transactions: None, clash: str) -> None:
    n = 6
    barrier = threading.Barrier(n)
    statuses: list[int] = []

    def attempt(i: int) -> None:
        name = "racer" if clash == "username" else f"racer{i}"
        email = "racer@example.org" if clash == "email" else f"racer{i}@example.org"
        barrier.wait()
        statuses.append(register(client, name.upper() if i % 2 else name, email).status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * (n - 1)


BAD_BODIES: list[tuple[str, Any, int]] = [
    ("invalid json", '{"username": "bob",', 400),
    ("json array", "[1, 2]", 400),
    ("json string", '"hello"', 400),
    ("empty body", "", 400),
    ("missing email", {"username": "bob", "password": "0123456789"}, 400),
    ("username number", {"username": 12345, "password": "0123456789", "email": "b@example.org"}, 400),
    ("password list", {"username": "bob", "password": ["0123456789"], "email": "b@example.org"}, 400),
    ("password null", {"username": "bob", "password": None, "email": "b@example.org"}, 400),
    ("username bool", {"username": True, "password": "0123456789", "email": "b@example.org"}, 400),
    ("short username", {"username": "bo", "password": "0123456789", "email": "b@example.org"}, 400),
    ("long username", {"username": "b" * 65, "password": "0123456789", "email": "b@example.org"}, 400),
    ("space in username", {"username": "bo b", "password": "0123456789", "email": "b@example.org"}, 400),
    ("unicode username", {"username": "bøb", "password": "0123456789", "email": "b@example.org"}, 400),
    ("newline username", {"username": "bob\n", "password": "0123456789", "email": "b@example.org"}, 400),
    ("short password", {"username": "bob", "password": "012345678", "email": "b@example.org"}, 400),
    ("huge password", {"username": "bob", "password": "p" * 5000, "email": "b@example.org"}, 400),
    ("bad email", {"username": "bob", "password": "0123456789", "email": "not-an-email"}, 400),
    ("huge email", {"username": "bob", "password": "0123456789", "email": "b" * 300 + "@example.org"}, 400),
    ("body over 64 KiB", {"username": "bob", "password": "0123456789", "email": "b@example.org", "x": "y" * 70000}, 400),
]


def test_malformed_registrations_are_400(client: Any, subtests: Any) -> None:
    for case, body, status in BAD_BODIES:
        with subtests.test(case):
            response = post(client, "/auth/register", body)
            assert response.status_code == status
            assert error_code(response) in {"bad_request", "validation_error"}
    assert users.get_user_by_username("bob") is None


def test_unicode_password_and_email_are_accepted_and_normalised(client: Any) -> None:
    composed = "pässwörd-ünïcode"  # NFC
    decomposed = "pa\u0308sswo\u0308rd-u\u0308ni\u0308code"  # same text, NFD
    assert register(client, "uni", "ü@exämple.org", composed).status_code == 201
    assert login(client, "uni", decomposed).status_code == 200


def test_wrong_content_type_is_415(client: Any, subtests: Any) -> None:
    for path in ("/auth/register", "/auth/login", "/auth/password-reset", "/auth/password-reset/confirm"):
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            with subtests.test(path=path, content_type=content_type):
                headers = {"Content-Type": content_type} if content_type else {}
                response = client.http.post(path, body='{"username": "bob"}', headers=headers)
                assert response.status_code == 415
                assert error_code(response) == "unsupported_media_type"


MALFORMED_PUBLIC = [
        ("/auth/login", {"username": "bob"}),
        ("/auth/login", {"username": "bob", "password": 1234567890}),
        ("/auth/login", {"username": "b" * 100, "password": "0123456789"}),
        ("/auth/login", {"username": "bob", "password": "0123456789", "otp": "1"}),
        ("/auth/password-reset", {"email": ["a@b.org"]}),
        ("/auth/password-reset", {"email": "nope"}),
        ("/auth/password-reset/confirm", {"token": "x" * 300, "new_password": "0123456789"}),
        ("/auth/password-reset/confirm", {"token": "x", "new_password": "short"}),
        ("/auth/password-reset/confirm", {"token": 5, "new_password": "0123456789"}),
]


def test_malformed_public_bodies_are_400(client: Any, subtests: Any) -> None:
    for path, body in MALFORMED_PUBLIC:
        with subtests.test(path=path, body=str(body)[:60]):
            response = post(client, path, body)
            assert response.status_code == 400
            assert error_code(response) == "validation_error"


# --- login and throttling ---------------------------------------------------------------


def test_login_issues_a_bearer_token_that_works(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    user_id, _ = make_user("carol")
    fake_clock.advance(minutes=5)
    response = login(client, "CAROL")  # usernames are case-insensitive
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert response.headers["Cache-Control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert set(claims) == {"sub", "role", "iat", "exp", "iss", "aud", "pv"}
    assert claims["sub"] == user_id and claims["exp"] - claims["iat"] == 3600
    mine = me(client, bearer(body["access_token"]))
    assert mine.status_code == 200
    assert json.loads(mine.body)["last_login"] == "2026-11-24T12:05:00.000Z"


def test_unknown_user_and_wrong_password_get_the_same_answer(client: Any, make_user: Any) -> None:
    make_user("dave")
    wrong = login(client, "dave", "wrong-password")
    unknown = login(client, "nobody", "wrong-password")
    invalid_name = login(client, "no body!", "wrong-password")
    assert wrong.status_code == unknown.status_code == invalid_name.status_code == 401
    assert wrong.body == unknown.body == invalid_name.body


def test_five_failures_lock_the_name_until_the_lockout_ends(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    make_user("erin")
    for _ in range(5):
        fake_clock.advance(seconds=30)
        assert login(client, "erin", "wrong-password").status_code == 401
    locked = login(client, "erin")  # even the right password
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "900"
    assert error_code(locked) == "too_many_requests"
    fake_clock.advance(minutes=14)
    still = login(client, "ERIN")
    assert still.status_code == 429 and still.headers["Retry-After"] == "60"
    fake_clock.advance(seconds=61)
    assert login(client, "erin").status_code == 200


def test_unknown_usernames_lock_too_so_lockout_reveals_nothing(client: Any, fake_clock: FakeClock) -> None:
    for _ in range(5):
        assert login(client, "ghost", "wrong-password").status_code == 401
    assert login(client, "ghost", "wrong-password").status_code == 429


def test_failures_outside_the_window_do_not_add_up(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    make_user("frank")
    for _ in range(4):
        assert login(client, "frank", "wrong-password").status_code == 401
    fake_clock.advance(minutes=15, seconds=1)
    for _ in range(4):
        assert login(client, "frank", "wrong-password").status_code == 401
    assert login(client, "frank").status_code == 200


def test_a_successful_login_clears_the_failures(client: Any, make_user: Any) -> None:
    make_user("grace")
    for _ in range(4):
        assert login(client, "grace", "wrong-password").status_code == 401
    assert login(client, "grace").status_code == 200
    for _ in range(4):
        assert login(client, "grace", "wrong-password").status_code == 401
    assert login(client, "grace").status_code == 200


def test_deactivated_account_cannot_log_in(client: Any, make_user: Any) -> None:
    user_id, _ = make_user("heidi")
    users.update_user(user_id, is_active=False)
    assert login(client, "heidi", "wrong-password").status_code == 401
    response = login(client, "heidi")
    assert response.status_code == 403 and error_code(response) == "account_disabled"


# --- token attacks on a protected route -------------------------------------------------


@pytest.fixture
def victim(make_user: Any) -> str:
    user_id, _ = make_user("ivan")
    return user_id


BAD_HEADERS = [None, "", "Bearer", "Bearer ", "Basic aXZhbjpwdw==", "Token abc", "Bearer not.a.jwt", "Bearer abc",
               "Bearer a.b.c", "Bearer " + "a" * 5000]


def test_missing_or_malformed_authorization_is_401(client: Any, subtests: Any) -> None:
    for header in BAD_HEADERS:
        with subtests.test(header=(header or "")[:40]):
            headers = {} if header is None else {"Authorization": header}
            response = client.http.get("/auth/me", headers=headers)
            assert response.status_code == 401
            assert error_code(response) == "unauthorized"
            assert "WWW-Authenticate" in response.headers


def _tampered_signature(token: str) -> str:
    head, payload, sig = token.split(".")
    return f"{head}.{payload}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"


def _tampered_payload(token: str, user_id: str) -> str:
    head, _, sig = token.split(".")
    return f"{head}.{b64(claims_for(user_id, role='admin'))}.{sig}"


def _alg_none(user_id: str) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims_for(user_id))}."


def _rs256_looking(user_id: str) -> str:
    """An HMAC signature under an RS256 header: the classic algorithm-confusion shape."""
    import hashlib
    import hmac

    signing_input = f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims_for(user_id))}"
    sig = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


TOKEN_ATTACKS = {
    "tampered signature": lambda uid: _tampered_signature(forge(claims_for(uid))),
    "tampered payload (role admin)": lambda uid: _tampered_payload(forge(claims_for(uid)), uid),
    "alg none": _alg_none,
    "HS512 with the right secret": lambda uid: forge(claims_for(uid), algorithm="HS512"),
    "RS256-looking header": _rs256_looking,
    "another secret": lambda uid: forge(claims_for(uid), key="another-secret-" + "y" * 40),
    "expired": lambda uid: forge(claims_for(uid, iat=1795521600 - 3601, exp=1795521600 - 1)),
    "expires exactly now": lambda uid: forge(claims_for(uid, iat=1795521600 - 3600, exp=1795521600)),
    "issued in the future": lambda uid: forge(claims_for(uid, iat=1795521600 + 600, exp=1795521600 + 4200)),
    "not before in the future": lambda uid: forge(claims_for(uid, nbf=1795521600 + 600)),
    "wrong audience": lambda uid: forge(claims_for(uid, aud="someone-else")),
    "wrong issuer": lambda uid: forge(claims_for(uid, iss="evil-issuer")),
    "missing sub": lambda uid: forge(claims_for(uid, sub=None)),
    "missing exp": lambda uid: forge(claims_for(uid, exp=None)),
    "missing iat": lambda uid: forge(claims_for(uid, iat=None)),
    "missing aud": lambda uid: forge(claims_for(uid, aud=None)),
    "missing iss": lambda uid: forge(claims_for(uid, iss=None)),
    "missing pv": lambda uid: forge(claims_for(uid, pv=None)),
    "string exp": lambda uid: forge(claims_for(uid, exp="9999999999")),
    "sub not a uuid": lambda uid: forge(claims_for(uid, sub="ivan")),
    "sub of nobody": lambda uid: forge(claims_for("00000000-0000-4000-8000-000000000000")),
    "old password version": lambda uid: forge(claims_for(uid, pv=-1)),
}


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the HS512 forgery
def test_token_attacks_are_401(client: Any, victim: str, subtests: Any) -> None:
    for attack, make in TOKEN_ATTACKS.items():
        with subtests.test(attack):
            response = me(client, bearer(make(victim)))
            assert response.status_code == 401, attack
            assert error_code(response) == "unauthorized"
    assert me(client, bearer(forge(claims_for(victim)))).status_code == 200  # the victim is fine


def test_token_expires_after_one_hour(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    _, headers = make_user("judy")
    fake_clock.advance(minutes=59, seconds=59)
    assert me(client, headers).status_code == 200
    fake_clock.advance(seconds=1)
    assert me(client, headers).status_code == 401


def test_token_of_a_deleted_user_is_401(client: Any, make_user: Any) -> None:
    user_id, headers = make_user("kim")
    users.delete_user(user_id)
    assert me(client, headers).status_code == 401
    assert login(client, "kim").status_code == 401


def test_deactivation_ends_access_at_once_and_reactivation_restores_it(client: Any, make_user: Any) -> None:
    user_id, headers = make_user("leo")
    _, admin = make_user("root", role="admin")
    patch = client.http.patch(f"/admin/users/{user_id}", body=json.dumps({"is_active": False}), headers=admin)
    assert patch.status_code == 200 and json.loads(patch.body)["is_active"] is False
    response = me(client, headers)
    assert response.status_code == 403 and error_code(response) == "account_disabled"
    client.http.patch(f"/admin/users/{user_id}", body=json.dumps({"is_active": True}), headers=admin)
    assert me(client, headers).status_code == 200


def test_role_comes_from_the_account_not_the_token(client: Any, make_user: Any) -> None:
    admin_id, admin_headers = make_user("boss", role="admin")
    _, other_admin = make_user("boss2", role="admin")
    assert client.http.get("/admin/users", headers=admin_headers).status_code == 200
    demote = client.http.patch(f"/admin/users/{admin_id}", body=json.dumps({"role": "user"}), headers=other_admin)
    assert demote.status_code == 200
    assert client.http.get("/admin/users", headers=admin_headers).status_code == 403


# --- password change --------------------------------------------------------------------


def test_password_change_kills_older_tokens(client: Any, make_user: Any) -> None:
    _, headers = make_user("mia")
    body = {"current_password": PASSWORD, "new_password": "a-brand-new-password"}
    assert post(client, "/auth/password", body, headers).status_code == 204
    assert me(client, headers).status_code == 401  # same second, still refused
    assert login(client, "mia").status_code == 401
    fresh = login(client, "mia", "a-brand-new-password")
    assert fresh.status_code == 200
    assert me(client, bearer(json.loads(fresh.body)["access_token"])).status_code == 200


@pytest.mark.parametrize(
    "body,status",
    [
        ({"current_password": "wrong-password", "new_password": "a-brand-new-password"}, 403),
        ({"current_password": PASSWORD, "new_password": "short"}, 400),
        ({"current_password": PASSWORD, "new_password": PASSWORD}, 400),
        ({"current_password": PASSWORD}, 400),
        ({"current_password": PASSWORD, "new_password": 12345678901}, 400),
    ],
)
def test_bad_password_changes_change_nothing(client: Any, make_user: Any, body: dict[str, Any], status: int) -> None:
    _, headers = make_user("nina")
    assert post(client, "/auth/password", body, headers).status_code == status
    assert me(client, headers).status_code == 200
    assert login(client, "nina").status_code == 200


def test_password_change_needs_a_token(client: Any) -> None:
    body = {"current_password": PASSWORD, "new_password": "a-brand-new-password"}
    assert post(client, "/auth/password", body).status_code == 401


def test_guessing_the_current_password_hits_the_throttle(client: Any, make_user: Any) -> None:
    _, headers = make_user("olga")
    body = {"current_password": "wrong-password", "new_password": "a-brand-new-password"}
    for _ in range(5):
        assert post(client, "/auth/password", body, headers).status_code == 403
    assert post(client, "/auth/password", body, headers).status_code == 429


# --- password reset ---------------------------------------------------------------------


def test_reset_round_trip_single_use(client: Any, make_user: Any, mailbox: Any) -> None:
    _, old_headers = make_user("pat")
    response = post(client, "/auth/password-reset", {"email": "PAT@example.org"})
    assert response.status_code == 202
    [message] = mailbox("pat@example.org")
    token = reset_token_from(message)
    assert token.encode() not in response.body
    stored = users.get_user_by_username("pat")
    assert stored is not None and token not in (stored.reset_hash or "") and len(stored.reset_hash or "") == 64
    confirm = {"token": token, "new_password": "reset-new-password"}
    assert post(client, "/auth/password-reset/confirm", confirm).status_code == 204
    assert login(client, "pat", "reset-new-password").status_code == 200
    assert me(client, old_headers).status_code == 401
    reuse = post(client, "/auth/password-reset/confirm", {"token": token, "new_password": "yet-another-password"})
    assert reuse.status_code == 400
    assert login(client, "pat", "reset-new-password").status_code == 200


def test_reset_answers_the_same_for_unknown_addresses(client: Any, make_user: Any, mailbox: Any) -> None:
    make_user("quinn")
    known = post(client, "/auth/password-reset", {"email": "quinn@example.org"})
    unknown = post(client, "/auth/password-reset", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.body == unknown.body
    assert len(mailbox("quinn@example.org")) == 1 and mailbox("nobody@example.org") == []


def test_a_reset_request_does_the_same_work_for_any_address(
    client: Any, make_user: Any, mailbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request only queues the address; lookup, token and mail run afterwards in the
    `send_password_reset` function, so the response time cannot reveal an account."""
    from botocore.client import BaseClient

    make_user("quincy")
    calls: list[str] = []
    original = BaseClient._make_api_call

    def recording(self: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.append(f"{self.meta.service_model.service_name}.{operation}")
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    work = {}
    for address in ("quincy@example.org", "nobody-here@example.org", "QUINCY@example.org"):
        calls.clear()
        assert post(client, "/auth/password-reset", {"email": address}).status_code == 202
        work[address] = list(calls)
    assert work["quincy@example.org"] == work["nobody-here@example.org"] == work["QUINCY@example.org"]
    assert work["quincy@example.org"] == ["sqs.GetQueueUrl", "sqs.SendMessage"], "no lookup, no mail in the request"
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    assert len(mailbox("quincy@example.org")) == 1  # sent by the function, once (too soon for the second)


def test_reset_function_ignores_malformed_events(aws_env: None) -> None:
    from chalicelib.accounts import auth

    for event in (None, {}, {"email": ""}, {"email": 5}, ["a@b.org"]):
        assert auth.handle_reset_event(event) == {"status": "ignored"}


def test_reset_token_expires_after_one_hour(client: Any, make_user: Any, mailbox: Any, fake_clock: FakeClock) -> None:
    make_user("rob")
    post(client, "/auth/password-reset", {"email": "rob@example.org"})
    token = reset_token_from(mailbox("rob@example.org")[0])
    fake_clock.advance(hours=1)
    response = post(client, "/auth/password-reset/confirm", {"token": token, "new_password": "reset-new-password"})
    assert response.status_code == 400
    assert login(client, "rob").status_code == 200


def test_reset_token_works_just_before_expiry(client: Any, make_user: Any, mailbox: Any, fake_clock: FakeClock) -> None:
    make_user("rita")
    post(client, "/auth/password-reset", {"email": "rita@example.org"})
    token = reset_token_from(mailbox("rita@example.org")[0])
    fake_clock.advance(minutes=59, seconds=59)
    assert post(client, "/auth/password-reset/confirm", {"token": token, "new_password": "reset-new-password"}).status_code == 204


def test_a_newer_reset_token_supersedes_the_older(client: Any, make_user: Any, mailbox: Any, fake_clock: FakeClock) -> None:
    make_user("sam")
    post(client, "/auth/password-reset", {"email": "sam@example.org"})
    post(client, "/auth/password-reset", {"email": "sam@example.org"})  # too soon: nothing sent
    assert len(mailbox("sam@example.org")) == 1
    fake_clock.advance(seconds=61)
    post(client, "/auth/password-reset", {"email": "sam@example.org"})
    first, second = (reset_token_from(m) for m in mailbox("sam@example.org"))
    assert post(client, "/auth/password-reset/confirm", {"token": first, "new_password": "reset-new-password"}).status_code == 400
    assert post(client, "/auth/password-reset/confirm", {"token": second, "new_password": "reset-new-password"}).status_code == 204


def test_a_password_change_kills_an_outstanding_reset_token(client: Any, make_user: Any, mailbox: Any) -> None:
    _, headers = make_user("tess")
    post(client, "/auth/password-reset", {"email": "tess@example.org"})
    token = reset_token_from(mailbox("tess@example.org")[0])
    assert post(client, "/auth/password", {"current_password": PASSWORD, "new_password": "changed-password"}, headers).status_code == 204
    assert post(client, "/auth/password-reset/confirm", {"token": token, "new_password": "reset-new-password"}).status_code == 400


def test_a_reset_lifts_a_login_lockout(client: Any, make_user: Any, mailbox: Any) -> None:
    make_user("uma")
    for _ in range(5):
        login(client, "uma", "wrong-password")
    assert login(client, "uma").status_code == 429
    post(client, "/auth/password-reset", {"email": "uma@example.org"})
    token = reset_token_from(mailbox("uma@example.org")[0])
    assert post(client, "/auth/password-reset/confirm", {"token": token, "new_password": "reset-new-password"}).status_code == 204
    assert login(client, "uma", "reset-new-password").status_code == 200


def test_deactivated_accounts_get_no_reset_mail(client: Any, make_user: Any, mailbox: Any) -> None:
    user_id, _ = make_user("vic")
    users.update_user(user_id, is_active=False)
    assert post(client, "/auth/password-reset", {"email": "vic@example.org"}).status_code == 202
    assert mailbox("vic@example.org") == []


def test_forged_reset_tokens_are_400(client: Any, make_user: Any, mailbox: Any, subtests: Any) -> None:
    user_id, _ = make_user("wes")
    post(client, "/auth/password-reset", {"email": "wes@example.org"})
    real = reset_token_from(mailbox("wes@example.org")[0])
    forged = ["abc", "not-a-uuid.secret", "00000000-0000-4000-8000-000000000000.secret", f"{user_id}.wrong-secret",
              user_id, f"{user_id.upper()}.{real.split('.', 1)[1]}", real + "x", real[:-1], " " + real]
    for token in forged:
        with subtests.test(token=token[:50]):
            response = post(client, "/auth/password-reset/confirm", {"token": token, "new_password": "reset-new-password"})
            assert response.status_code == 400 and error_code(response) == "bad_request"
    assert login(client, "wes").status_code == 200
    # the forgeries did not burn the real token
    assert post(client, "/auth/password-reset/confirm", {"token": real, "new_password": "reset-new-password"}).status_code == 204


# --- admin ------------------------------------------------------------------------------


def test_admin_routes_refuse_users(client: Any, make_user: Any) -> None:
    user_id, headers = make_user("xena")
    assert client.http.get("/admin/users", headers=headers).status_code == 403
    patch = client.http.patch(f"/admin/users/{user_id}", body=json.dumps({"role": "admin"}), headers=headers)
    assert patch.status_code == 403
    assert me(client, headers).status_code == 200 and json.loads(me(client, headers).body)["role"] == "user"


def test_admin_lists_every_user_across_pages(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    created = []
    for i in range(5):
        created.append(make_user(f"member{i}")[0])
        fake_clock.advance(seconds=1)
    admin_id, admin = make_user("admin1", role="admin")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = "?limit=2" + (f"&next_token={token}" if token else "")
        response = client.http.get(f"/admin/users{query}", headers=admin)
        assert response.status_code == 200
        body = json.loads(response.body)
        assert len(body["users"]) <= 2
        seen += [u["user_id"] for u in body["users"]]
        pages += 1
        token = body["next_token"]
        if not token:
            break
    assert seen == [admin_id] + created[::-1]  # every account once, newest first
    assert pages >= 3


def test_admin_list_bad_queries_are_400(client: Any, make_user: Any, subtests: Any) -> None:
    _, admin = make_user("admin2", role="admin")
    for query in ("?limit=0", "?limit=101", "?limit=abc", "?limit=1.5", "?next_token=garbage", "?color=red"):
        with subtests.test(query):
            response = client.http.get(f"/admin/users{query}", headers=admin)
            assert response.status_code == 400


def test_admin_promotes_a_user(client: Any, make_user: Any) -> None:
    user_id, headers = make_user("yuri")
    _, admin = make_user("admin3", role="admin")
    response = client.http.patch(f"/admin/users/{user_id}", body=json.dumps({"role": "admin"}), headers=admin)
    assert response.status_code == 200 and json.loads(response.body)["role"] == "admin"
    assert client.http.get("/admin/users", headers=headers).status_code == 200


PATCH_REFUSALS = [
        ("not-a-uuid", {"role": "admin"}, 404),
        ("00000000-0000-4000-8000-000000000000", {"role": "admin"}, 404),
        ("{user}", {}, 400),
        ("{user}", {"is_active": "false"}, 400),
        ("{user}", {"is_active": 0}, 400),
        ("{user}", {"role": "root"}, 400),
        ("{user}", {"role": "admin", "username": "x"}, 400),
        ("{self}", {"is_active": False}, 409),
        ("{self}", {"role": "user"}, 409),
]


def test_admin_patch_refusals(client: Any, make_user: Any, subtests: Any) -> None:
    user_id, _ = make_user("zoe")
    admin_id, admin = make_user("admin4", role="admin")
    for target, body, status in PATCH_REFUSALS:
        with subtests.test(target=target, body=str(body)):
            path_id = target.replace("{user}", user_id).replace("{self}", admin_id)
            response = client.http.patch(f"/admin/users/{path_id}", body=json.dumps(body), headers=admin)
            assert response.status_code == status
    zoe, me_ = users.get_user(user_id), users.get_user(admin_id)
    assert zoe is not None and zoe.role == "user" and zoe.is_active is True
    assert me_ is not None and me_.role == "admin" and me_.is_active is True


def test_nothing_secret_reaches_the_logs(client: Any, make_user: Any, mailbox: Any) -> None:
    import io
    import logging

    from chalicelib.core.observability import logger

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    level = logger.log_level
    logger.addHandler(handler)
    logger.setLevel("DEBUG")
    try:
        _, headers = make_user("logan")
        token = headers["Authorization"].split()[1]
        login(client, "logan")
        login(client, "logan", "wrong-password-xyz")
        post(client, "/auth/password", {"current_password": PASSWORD, "new_password": "secret-new-password"}, headers)
        post(client, "/auth/password-reset", {"email": "logan@example.org"})
        reset = reset_token_from(mailbox("logan@example.org")[0])
        me(client, {"Authorization": "Bearer " + token})
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
    logs = buffer.getvalue()
    assert "token rejected" in logs and "password changed" in logs  # the logs were captured at all
    for secret in (PASSWORD, "wrong-password-xyz", "secret-new-password", token, reset, "$argon2"):
        assert secret not in logs
