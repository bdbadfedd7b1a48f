"""`amr admin users|user|stats|maintenance|cleanup` (administrators only: others get exit 3)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.text import Text

from amrcli.api import Api, ApiError
from amrcli.app import JsonFlag, admin_app, session
from amrcli.errors import CliError, Exit
from amrcli.output import Output
from amrcli.polling import Poller

ADMIN_HINT = "This command needs an administrator account."


class Task(str, Enum):
    stalled = "stalled"
    purge = "purge"
    archive = "archive"


class Role(str, Enum):
    user = "user"
    admin = "admin"


def _as_admin(call: Any) -> Any:
    """Run `call()`; a 403 says that an administrator is needed."""
    try:
        return call()
    except ApiError as exc:
        if exc.status == 403:
            exc.hint = ADMIN_HINT
        raise


def _all_users(api: Api) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = _as_admin(
            lambda token=token: api.call("GET", "/admin/users", params={"limit": 100, "next_token": token})
        )
        users.extend(page["users"])
        token = page.get("next_token")
        if not token:
            return users


def _user_rows(users: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            u["user_id"],
            u["username"],
            u["email"],
            u["role"],
            Text("active", style="green") if u["is_active"] else Text("inactive", style="red"),
            u.get("last_login") or "",
        ]
        for u in users
    ]


def _show_users(out: Output, users: list[dict[str, Any]]) -> None:
    out.table(["User", "Username", "Email", "Role", "State", "Last login"], _user_rows(users))


@admin_app.command("users")
def users(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every account."""
    s = session(ctx)
    found = _all_users(s.api())
    if as_json:
        s.out.json({"users": found})
    else:
        _show_users(s.out, found)


@admin_app.command("user")
def user(
    ctx: typer.Context,
    who: Annotated[str, typer.Argument(help="User id or username.", metavar="USER")],
    active: Annotated[
        bool | None, typer.Option("--activate/--deactivate", help="Allow or stop the account's access.")
    ] = None,
    role: Annotated[Role | None, typer.Option(help="Make the account a user or an admin.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show one account, or change it with --activate/--deactivate and --role."""
    s = session(ctx)
    api = s.api()
    wanted = who.lower()
    match = next((u for u in _all_users(api) if wanted in (u["user_id"].lower(), u["username"].lower())), None)
    if match is None:
        raise CliError(f"No user {who!r}", Exit.NOT_FOUND, "`amr admin users` lists every account.")
    if active is not None or role is not None:
        change: dict[str, Any] = {}
        if active is not None:
            change["is_active"] = active
        if role is not None:
            change["role"] = role.value
        match = _as_admin(lambda: api.call("PATCH", f"/admin/users/{quote(match['user_id'], safe='')}", json=change))
    if as_json:
        s.out.json(match)
    else:
        _show_users(s.out, [match])


@admin_app.command("stats")
def stats(
    ctx: typer.Context,
    mine: Annotated[bool, typer.Option("--mine", help="Only your own jobs (no admin needed).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Job statistics of the whole service: totals by status, success rate, durations."""
    s = session(ctx)
    api = s.api()
    answer = _as_admin(lambda: api.call("GET", "/stats", params={"scope": "mine" if mine else "all"}))
    if as_json:
        s.out.json(answer)
        return
    rate = answer.get("success_rate")
    duration = answer.get("avg_duration_seconds")
    s.out.fields(
        [
            ("scope", answer.get("scope")),
            ("jobs", answer.get("total")),
            ("success rate", f"{rate * 100:.1f}%" if rate is not None else "n/a"),
            ("mean duration", f"{duration:.1f} s" if duration is not None else "n/a"),
            ("models", ", ".join(f"{m['model_name']} ({m['count']})" for m in answer.get("top_models") or [])),
        ]
    )
    s.out.table(["Status", "Jobs"], sorted((answer.get("by_status") or {}).items()))


def wait_for_run(api: Api, accepted: dict[str, Any], poller: Poller | None = None) -> dict[str, Any]:
    """The service runs maintenance asynchronously (202 and a run to follow): poll the run's
    `location` politely until it is finished or failed."""
    latest: dict[str, Any] = {}

    def probe() -> bool:
        before = latest.get("status")
        latest.update(api.call("GET", accepted["location"]))
        return latest["status"] != before

    (poller or Poller()).run(probe, lambda: latest.get("status") in ("finished", "failed"))
    return latest


@admin_app.command("maintenance")
def maintenance(
    ctx: typer.Context,
    task: Annotated[
        list[Task] | None, typer.Option("--task", "-t", help="Run only this task (repeatable); default all.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would happen; change nothing.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Run maintenance now: stalled-job recovery, purge by retention, archiving."""
    s = session(ctx)
    api = s.api()
    body: dict[str, Any] = {"dry_run": dry_run}
    if task:
        body["tasks"] = sorted({t.value for t in task})
    accepted = _as_admin(lambda: api.call("POST", "/admin/maintenance", json=body))
    run = wait_for_run(api, accepted)
    if run["status"] == "failed":
        reason = run.get("error") or "no reason given"
        raise CliError(f"maintenance run {run['run_id']} failed: {reason}", Exit.UNAVAILABLE)
    report = run["report"] or {}
    if as_json:
        s.out.json(report)
        return
    verb = "would" if report.get("dry_run") else "did"
    s.out.line(f"maintenance ({verb} run: {', '.join(report.get('tasks') or [])})")
    rows = [
        [what, len(report.get(what) or []), ", ".join(report.get(what) or [])]
        for what in ("stalled", "purged", "archived")
    ]
    rows.append(
        ["failed", len(report.get("failed") or []), ", ".join(str(f.get("job_id")) for f in report.get("failed") or [])]
    )
    s.out.table(["Outcome", "Jobs", "Ids"], rows)


@admin_app.command("cleanup")
def cleanup(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(min=1, help="Delete terminal jobs that ended more than DAYS days ago.")],
    as_json: JsonFlag = False,
) -> None:
    """Delete every user's finished jobs older than --days (calls again while more are due)."""
    s = session(ctx)
    api = s.api()
    deleted: list[str] = []
    failed: list[Any] = []
    while True:
        report = _as_admin(lambda: api.call("DELETE", "/jobs/cleanup", params={"days": days}))
        deleted.extend(report.get("deleted") or [])
        failed.extend(report.get("failed") or [])
        if not report.get("more_due") or not report.get("deleted"):
            break
    if as_json:
        s.out.json({"deleted": deleted, "count": len(deleted), "failed": failed})
    else:
        s.out.line(f"deleted {len(deleted)} job(s)" + (f", {len(failed)} failed" if failed else ""))
