"""`amr account notifications`: webhook and email settings, the signing secret, deliveries
(design §22).

`set` changes only what it is given: it reads the current settings and writes them back with
the changes, so `--email` alone keeps the webhook.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from amrcli.app import JsonFlag, Session, account_app, session
from amrcli.errors import CliError, Exit

EVENTS = ("job.completed", "job.failed", "batch.finished")
PATH = "/account/notifications"

notifications_app = typer.Typer(
    help="Webhook and email when jobs and batches finish: show (default), set, rotate-secret, deliveries.",
)
account_app.add_typer(notifications_app, name="notifications")


def _show(s: Session, settings: dict[str, Any], as_json: bool) -> None:
    """The settings the service answered: its JSON, or fields and (once) the new secret."""
    if as_json:
        s.out.json(settings)
        return
    s.out.fields(
        [
            ("webhook", settings.get("webhook_url") or "off"),
            ("email", "on (batch.finished)" if settings.get("email") else "off"),
            ("events", ", ".join(settings.get("events") or []) or "none"),
            ("signing secret", settings.get("secret_hint") or ("none" if settings.get("created_at") else None)),
            ("previous secret valid until", settings.get("previous_secret_expires_at")),
            ("signature header", settings.get("signature_header")),
            ("updated", settings.get("updated_at") or settings.get("created_at")),
        ]
    )
    secret = settings.get("secret")
    if secret:
        # Shown once: the service keeps it for signing but never returns it again.
        s.out.note(
            f"Signing secret (shown once, store it now): {secret}\n"
            "Verify each delivery's signature header with it (see the README, Notifications).",
            "bold yellow",
        )


@notifications_app.callback(invoke_without_command=True)
def show(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show your notification settings (the secret only as its last four characters)."""
    if ctx.invoked_subcommand:
        return
    s = session(ctx)
    _show(s, s.api().call("GET", PATH), as_json)


@notifications_app.command("set")
def set_(
    ctx: typer.Context,
    webhook: Annotated[
        str | None, typer.Option("--webhook", metavar="URL", help="https URL that receives signed POSTs.")
    ] = None,
    no_webhook: Annotated[bool, typer.Option("--no-webhook", help="Stop webhook deliveries.")] = False,
    email: Annotated[
        bool | None, typer.Option("--email/--no-email", help="Email a summary when a batch finishes.")
    ] = None,
    events: Annotated[
        list[str] | None,
        typer.Option("--event", metavar="EVENT", help=f"Send only these events (repeat): {', '.join(EVENTS)}."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change the webhook, email or events; what you do not name stays as it is."""
    if webhook is not None and no_webhook:
        raise CliError("--webhook and --no-webhook contradict each other", Exit.USAGE)
    unknown = sorted(set(events or []) - set(EVENTS))
    if unknown:
        raise CliError(f"Unknown event {', '.join(unknown)}", Exit.USAGE, f"Events are {', '.join(EVENTS)}.")
    if webhook is None and not no_webhook and email is None and not events:
        raise CliError(
            "Nothing to change", Exit.USAGE, "Give --webhook URL, --no-webhook, --email/--no-email or --event."
        )
    s = session(ctx)
    api = s.api()
    current = api.call("GET", PATH)
    body = {
        "webhook_url": None if no_webhook else (webhook if webhook is not None else current.get("webhook_url")),
        "email": bool(current.get("email")) if email is None else email,
        "events": list(dict.fromkeys(events)) if events else current.get("events") or list(EVENTS),
    }
    settings = api.call("PUT", PATH, json=body)
    if not as_json:
        s.out.note("Notification settings saved.", "green")
    _show(s, settings, as_json)


@notifications_app.command("rotate-secret")
def rotate_secret(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Make a new signing secret; the previous one keeps signing for a day so receivers can switch."""
    s = session(ctx)
    _show(s, s.api().call("POST", f"{PATH}/secret"), as_json)


@notifications_app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="How many, newest first.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The latest deliveries: event, where it went, status, attempts and the next retry."""
    s = session(ctx)
    page = s.api().call("GET", f"{PATH}/deliveries", params={"limit": limit})
    items = page["deliveries"]
    if as_json:
        s.out.json(items)
        return
    if not items:
        s.out.note("No deliveries yet.")
        return
    s.out.table(
        ["Created", "Event", "Channel", "Target", "Status", "Attempts", "Last answer", "Next attempt", "Event id"],
        (
            [
                d["created_at"],
                d["event_type"],
                d["channel"],
                d["target"],
                d["status"],
                d["attempts"],
                d.get("last_status_code") or d.get("last_error") or "",
                d.get("next_attempt_at") or "",
                d["event_id"],
            ]
            for d in items
        ),
        title=f"Latest {len(items)} deliveries",
    )
