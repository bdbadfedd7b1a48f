"""The typer application, its global options and the session every command gets.

Command modules (`account`, `jobs`, `submit`, `admin`) register themselves on `app`;
`amrcli.main` imports them all and runs the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import httpx
import typer

from amrcli import __version__, config
from amrcli.api import Api
from amrcli.errors import CliError, Exit
from amrcli.output import Output

app = typer.Typer(
    name="amr",
    help="Command-line client of the AMR prediction service: submit genomes, watch jobs, read results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=(
        "Exit status: 0 ok, 1 a job ended in Error or Cancelled (or its state refused the operation), "
        "2 usage or invalid input, 3 authentication, 4 not found, 5 service unavailable, 130 interrupted."
    ),
)
admin_app = typer.Typer(help="Administration: users, statistics, maintenance.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
account_app = typer.Typer(help="Your account's settings: notifications.", no_args_is_help=True)
app.add_typer(account_app, name="account")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the service's JSON (for scripts).")]


@dataclass
class Session:
    """What commands share: the API URL, the output, and (in tests) an HTTP transport."""

    api_url: str = config.DEFAULT_API_URL
    out: Output = field(default_factory=Output)
    transport: httpx.BaseTransport | None = None

    def anonymous(self) -> Api:
        return Api(self.api_url, None, self.transport)

    def api(self) -> Api:
        """A client with the stored (or `AMR_TOKEN`) login; exit 3 when there is none or it expired."""
        creds = config.load(self.api_url)
        if creds is None:
            raise CliError(f"Not logged in to {self.api_url}", Exit.AUTH, "Run `amr login` (or set AMR_TOKEN).")
        if creds.expired():
            raise CliError(
                f"Your login to {self.api_url} expired at {creds.expires_at}",
                Exit.AUTH,
                "Run `amr login` to log in again.",
            )
        return Api(self.api_url, creds.token, self.transport)


def session(ctx: typer.Context) -> Session:
    return ctx.ensure_object(Session)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"amr {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    api: Annotated[
        str,
        typer.Option("--api", envvar=config.API_ENV, help="Service URL.", show_default=True, metavar="URL"),
    ] = config.DEFAULT_API_URL,
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = None,
) -> None:
    """Global options; the login is kept per service URL (`config`)."""
    if not api.startswith(("http://", "https://")):
        raise typer.BadParameter(f"{api!r} is not an http(s) URL", param_hint="--api")
    session(ctx).api_url = config.normalise_api_url(api)
