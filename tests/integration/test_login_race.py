"""Lockout cannot be raced (design §23): parallel wrong passwords lock after the same 5 attempts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.accounts import auth, passwords
from chalicelib.core.errors import ServiceError


@pytest.mark.parametrize("attempts", [20])
def test_parallel_wrong_passwords_reach_the_check_at_most_five_times(
    make_user: Any, monkeypatch: pytest.MonkeyPatch, attempts: int
) -> None:
    make_user("hana")
    cond = threading.Condition()
    state = {"checking": 0, "answered": 0}
    real = passwords.verify_password

    def held(stored: Any, password: str) -> bool:
        """Every attempt that reaches the hash waits until each attempt has either reached
        it or been answered: the widest race parallel requests can produce."""
        with cond:
            state["checking"] += 1
            cond.notify_all()
            cond.wait_for(lambda: state["checking"] + state["answered"] >= attempts)
        return real(stored, password)

    monkeypatch.setattr(passwords, "verify_password", held)

    def attempt(_: int) -> int:
        try:
            auth.login("hana", "wrong-password")
        except ServiceError as exc:
            return exc.status
        finally:
            with cond:
                state["answered"] += 1
                cond.notify_all()
        return 200

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        answers = sorted(pool.map(attempt, range(attempts)))

    assert answers.count(401) == auth.LOGIN_LIMIT
    assert answers.count(429) == attempts - auth.LOGIN_LIMIT
    monkeypatch.setattr(passwords, "verify_password", real)
    with pytest.raises(ServiceError) as locked:
        auth.login("hana", "correct-horse-1")  # locked, even for the right password
    assert locked.value.status == 429


def test_the_right_password_after_four_failures_still_logs_in(make_user: Any) -> None:
    make_user("ivan")
    for _ in range(4):
        with pytest.raises(ServiceError):
            auth.login("ivan", "wrong-password")
    user, token = auth.login("ivan", "correct-horse-1")
    assert token and user.username == "ivan"
    for _ in range(4):  # the success cleared the count
        with pytest.raises(ServiceError) as wrong:
            auth.login("ivan", "wrong-password")
        assert wrong.value.status == 401
