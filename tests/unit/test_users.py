"""The user store (`accounts.users`) on moto: case-insensitive lookup, input validation,
unique username and email under a failed registration, the bootstrap administrator."""
from __future__ import annotations

import pytest

from chalicelib.accounts import auth, users
from chalicelib.core.errors import Conflict, Unauthorized, ValidationFailed


@pytest.mark.usefixtures("aws_env")
def test_lookup_by_username_and_email_is_case_insensitive() -> None:
    user = users.create_user(username="Mixed.Case_1", email="Mixed@Example.ORG", password="correct-horse-1")
    for name in ("mixed.case_1", "MIXED.CASE_1", "Mixed.Case_1"):
        found = users.get_user_by_username(name)
        assert found is not None and found.user_id == user.user_id and found.is_active is True
    found = users.get_user_by_email("mixed@example.org")
    assert found is not None and found.user_id == user.user_id
    assert users.get_user_by_username("other") is None
    assert users.get_user_by_username("../etc") is None and users.get_user_by_username("x" * 100) is None


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize(
    "kwargs",
    [
        {"username": "ab"},
        {"username": "has space"},
        {"email": "no-at-sign"},
        {"password": "short"},
        {"role": "root"},
    ],
)
def test_create_user_validates_its_input(kwargs: dict[str, str]) -> None:
    args = {"username": "valid", "email": "valid@example.org", "password": "correct-horse-1", "role": "user"}
    with pytest.raises(ValidationFailed):
        users.create_user(**{**args, **kwargs})
    assert users.get_user_by_username("valid") is None


@pytest.mark.usefixtures("aws_env")
def test_a_failed_registration_leaves_no_guard_behind() -> None:
    users.create_user(username="first", email="shared@example.org", password="correct-horse-1")
    with pytest.raises(Conflict):
        users.create_user(username="second", email="SHARED@example.org", password="correct-horse-1")
    assert users.get_user_by_username("second") is None
    users.create_user(username="second", email="own@example.org", password="correct-horse-1")


@pytest.mark.usefixtures("aws_env")
def test_bootstrap_admin_creates_once_and_never_overwrites() -> None:
    admin, created = users.bootstrap_admin("admin", "first-password-1")
    assert created is True and admin.role == "admin" and admin.is_active is True
    again, created_again = users.bootstrap_admin("ADMIN", "second-password-2")
    assert created_again is False and again.user_id == admin.user_id
    user, token = auth.login("admin", "first-password-1")
    assert user.user_id == admin.user_id and token
    with pytest.raises(Unauthorized):
        auth.login("admin", "second-password-2")


@pytest.mark.usefixtures("aws_env")
def test_bootstrap_admin_does_not_promote_an_existing_user() -> None:
    existing = users.create_user(username="admin", email="a@example.org", password="correct-horse-1")
    user, created = users.bootstrap_admin("admin", "another-password")
    assert created is False and user.user_id == existing.user_id and user.role == "user"


@pytest.mark.usefixtures("aws_env")
def test_bootstrap_admin_rejects_a_weak_password() -> None:
    with pytest.raises(ValidationFailed):
        users.bootstrap_admin("admin", "short")
