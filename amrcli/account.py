"""`register`, `login`, `logout`, `whoami`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from amrcli import config
from amrcli.api import ApiError
from amrcli.app import JsonFlag, Session, app, session
from amrcli.errors import CliError, Exit

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input (for scripts).")
]


def _password(from_stdin: bool, confirm: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("No password on standard input", Exit.USAGE)
        return password
    return str(
        typer.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password" if confirm else False)
    )


def _log_in(s: Session, username: str, password: str) -> None:
    try:
        answer = s.anonymous().call(
            "POST", "/auth/login", json={"username": username, "password": password}, authenticated=False
        )
    except ApiError as exc:
        if exc.status == 401:
            raise CliError("Wrong username or password", Exit.AUTH, "Check both and try again.") from None
        if exc.status == 429:
            wait = f" for {int(exc.retry_after)} s" if exc.retry_after else ""
            raise CliError(
                exc.service_message, Exit.AUTH, f"Too many failed logins: wait{wait}, then try again."
            ) from None
        raise
    config.save(s.api_url, answer["access_token"], username, int(answer.get("expires_in") or 3600))
    s.out.note(f"Logged in to {s.api_url} as {username} (token saved in {config.credentials_path()}).", "green")


@app.command()
def register(
    ctx: typer.Context,
    username: Annotated[str, typer.Option(prompt=True, help="3-64 of A-Z a-z 0-9 _ . -")],
    email: Annotated[str, typer.Option(prompt=True, help="Receives password-reset tokens.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an account (password: at least 10 characters), then log in with it."""
    s = session(ctx)
    password = _password(password_stdin, confirm=True)
    s.anonymous().call(
        "POST",
        "/auth/register",
        json={"username": username, "email": email, "password": password},
        authenticated=False,
    )
    s.out.note(f"Registered {username}.", "green")
    _log_in(s, username, password)


@app.command()
def login(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Argument(help="Your username (asked when omitted).")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Log in and keep the token (valid 1 hour) for the next commands."""
    s = session(ctx)
    name = username or str(typer.prompt("Username"))
    _log_in(s, name, _password(password_stdin, confirm=False))


@app.command()
def logout(ctx: typer.Context) -> None:
    """Forget the stored login for this service URL."""
    s = session(ctx)
    if config.forget(s.api_url):
        s.out.note(f"Logged out of {s.api_url}.")
    else:
        s.out.note(f"Not logged in to {s.api_url}; nothing to do.")


@app.command()
def whoami(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show the account you are logged in as."""
    s = session(ctx)
    user = s.api().call("GET", "/auth/me")
    if as_json:
        s.out.json(user)
        return
    s.out.fields(
        [
            ("username", user.get("username")),
            ("email", user.get("email")),
            ("role", user.get("role")),
            ("user id", user.get("user_id")),
            ("created", user.get("created_at")),
            ("last login", user.get("last_login")),
            ("service", s.api_url),
        ]
    )
