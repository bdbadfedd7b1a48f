"""Cost of authentication: per-request account lookup, login, password hashing.

`authenticate` reads the account on every request (so deactivation and password changes
count at once). This prints what that costs compared with verifying the JWT alone, in
DynamoDB calls and in wall time against moto (in-process; real DynamoDB adds its network
round trip, single-digit ms in-region), and what one Argon2id hash costs at the
production parameters.
"""
from __future__ import annotations

import contextlib
import io
import statistics
import time
from types import SimpleNamespace
from typing import Any, Callable

import benchenv  # noqa: F401,E402  (must precede chalicelib imports)

from argon2 import PasswordHasher  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib.accounts import auth, passwords, users  # noqa: E402
from chalicelib.core import tables as models  # noqa: E402
from chalicelib.core.settings import get_settings  # noqa: E402

ROUNDS = 300


def per_call_ms(fn: Callable[[], Any], rounds: int = ROUNDS) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def dynamodb_calls(fn: Callable[[], Any]) -> int:
    calls = [0]

    def count(**_: Any) -> None:
        calls[0] += 1

    clients = models.dynamodb_clients()
    for c in clients:
        c.meta.events.register("before-call.dynamodb", count)
    try:
        fn()
    finally:
        for c in clients:
            c.meta.events.unregister("before-call.dynamodb", count)
    return calls[0]


def main() -> None:
    with mock_aws():
        models.bind_models(get_settings())
        models.create_tables()
        with contextlib.redirect_stdout(io.StringIO()):
            user = users.create_user(username="bench", email="bench@example.org", password="correct-horse-1")
        request = SimpleNamespace(headers={"authorization": f"Bearer {auth.issue_token(user)}"})
        token = request.headers["authorization"].split()[1]
        rows = [
            ("verify JWT only", lambda: auth.decode_token(token)),
            ("authenticate (JWT + GetItem)", lambda: auth.authenticate(request)),  # type: ignore[arg-type]
            ("login (test-stage argon2)", lambda: auth.login("bench", "correct-horse-1")),
        ]
        print(f"{'operation':<32}{'dynamodb calls':>15}{'median ms':>11}{'p95 ms':>9}")
        for name, fn in rows:
            with contextlib.redirect_stdout(io.StringIO()):  # metric lines flushed when full
                calls = dynamodb_calls(fn)
                median, p95 = per_call_ms(fn, 50 if name.startswith("login") else ROUNDS)
            print(f"{name:<32}{calls:>15}{median:>11.2f}{p95:>9.2f}")
    prod = PasswordHasher(**passwords.argon2_parameters("prod"))
    stored = prod.hash("correct-horse-1")
    median, p95 = per_call_ms(lambda: prod.verify(stored, "correct-horse-1"), 20)
    print(f"{'argon2id verify (production)':<32}{0:>15}{median:>11.2f}{p95:>9.2f}")


if __name__ == "__main__":
    main()
