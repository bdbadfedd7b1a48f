"""HTTP handlers of the account routes (design §8) and their request/response models.

The pydantic models here are the contract: handlers validate with them and the OpenAPI
description is generated from them. Requests are strict (no type coercion) and reject
unknown fields, so `{"role": "admin"}` in a registration is a 400, not silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from chalice.app import Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from chalicelib.accounts import auth, users
from chalicelib.core import web
from chalicelib.core.errors import Conflict
from chalicelib.core.schemas import RequestModel
from chalicelib.core.tables import UserModel

Username = Annotated[str, StringConstraints(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Email = Annotated[
    str, StringConstraints(min_length=3, max_length=users.MAX_EMAIL_LENGTH, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]+$")
]
NewPassword = Annotated[
    str, StringConstraints(min_length=users.MIN_PASSWORD_LENGTH, max_length=users.MAX_PASSWORD_LENGTH)
]
AnyPassword = Annotated[str, StringConstraints(min_length=1, max_length=users.MAX_PASSWORD_LENGTH)]
Role = Literal["user", "admin"]
NO_STORE = {"Cache-Control": "no-store"}


class RegisterRequest(RequestModel):
    username: Username = Field(description="3-64 of A-Z a-z 0-9 _ . -; unique, case-insensitive")
    password: NewPassword = Field(description="at least 10 characters")
    email: Email = Field(description="unique, case-insensitive; receives password-reset tokens")


class LoginRequest(RequestModel):
    # Only lengths here: a name that cannot exist gets the same 401 as an unknown one.
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: AnyPassword


class PasswordChangeRequest(RequestModel):
    current_password: AnyPassword
    new_password: NewPassword


class PasswordResetRequest(RequestModel):
    email: Email


class PasswordResetConfirm(RequestModel):
    token: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    new_password: NewPassword


class AdminUserPatch(RequestModel):
    is_active: bool | None = None
    role: Role | None = None

    @model_validator(mode="after")
    def _something(self) -> AdminUserPatch:
        if self.is_active is None and self.role is None:
            raise ValueError("give is_active and/or role")
        return self


class UserListQuery(BaseModel):
    """Query strings are text: numbers are parsed here, hence not strict."""

    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=50, ge=1, le=100)
    next_token: Annotated[str, StringConstraints(max_length=2048)] | None = None


class UserOut(BaseModel):
    user_id: str
    username: str
    email: str
    role: Role
    is_active: bool
    created_at: str
    last_login: str | None = None

    @classmethod
    def of(cls, user: UserModel) -> UserOut:
        return cls(
            user_id=str(user.user_id),
            username=str(user.username),
            email=str(user.email),
            role=user.role,
            is_active=bool(user.is_active),
            created_at=str(user.created_at),
            last_login=user.last_login,
        )


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


class UserList(BaseModel):
    users: list[UserOut]
    next_token: str | None = None


class ResetAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    message: str


def _user(user: UserModel, status: int = 200) -> Response:
    return web.json_response(UserOut.of(user).model_dump(), status)


# --- handlers -------------------------------------------------------------------------


def register(request: Request) -> Response:
    body = web.parse_body(request, RegisterRequest)
    user = users.create_user(username=body.username, email=body.email, password=body.password, role="user")
    return _user(user, 201)


def login(request: Request) -> Response:
    body = web.parse_body(request, LoginRequest)
    _, token = auth.login(body.username, body.password)
    out = TokenOut(access_token=token, expires_in=int(auth.TOKEN_TTL.total_seconds()))
    return web.json_response(out.model_dump(), 200, NO_STORE)


def me() -> Response:
    return _user(users.require_user(web.caller().user_id))


def change_password(request: Request) -> Response:
    body = web.parse_body(request, PasswordChangeRequest)
    auth.change_password(web.caller().user_id, body.current_password, body.new_password)
    return web.no_content()


def password_reset(request: Request) -> Response:
    body = web.parse_body(request, PasswordResetRequest)
    auth.queue_password_reset(body.email)
    out = ResetAccepted(message="If the address belongs to an account, a reset token has been emailed to it.")
    return web.json_response(out.model_dump(), 202)


def password_reset_confirm(request: Request) -> Response:
    body = web.parse_body(request, PasswordResetConfirm)
    auth.confirm_password_reset(body.token, body.new_password)
    return web.no_content()


def admin_list_users(request: Request) -> Response:
    web.require_admin()
    query = web.parse_query(request, UserListQuery)
    page = users.list_users(limit=query.limit, next_token=query.next_token)
    out = UserList(users=[UserOut.of(u) for u in page.users], next_token=page.next_token)
    return web.json_response(out.model_dump())


def admin_patch_user(request: Request, user_id: str) -> Response:
    """Admins cannot deactivate or demote themselves, so an active admin always remains."""
    admin = web.require_admin()
    target = web.path_uuid(user_id, "User")
    body = web.parse_body(request, AdminUserPatch)
    if target == admin.user_id and (body.is_active is False or body.role == "user"):
        raise Conflict("Administrators cannot deactivate or demote their own account")
    return _user(users.update_user(target, is_active=body.is_active, role=body.role))
