"""Entry point of `amr` (console script) and `python -m amrcli`.

Typer parses and dispatches; this function turns whatever a command ends with into the
exit status of design §14 and a message on stderr — never a stack trace.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import httpx
import typer

# Each module registers its commands; this order is the order of `amr --help`.
from amrcli import account, admin, batches, jobs, notifications, submit  # noqa: F401, I001
from amrcli.app import Session, app
from amrcli.errors import CliError, Exit
from amrcli.output import Output


def main(argv: Sequence[str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    out = Output()
    session = Session(out=out, transport=transport)
    try:
        result = app(args=list(argv) if argv is not None else None, prog_name="amr", obj=session, standalone_mode=False)
    except CliError as exc:
        out.error(exc)
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        out.err.print("Interrupted.")
        return int(Exit.INTERRUPTED)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # an answer of an unexpected shape
        if os.environ.get("AMR_DEBUG"):
            raise
        out.error(
            CliError(
                f"Unexpected answer from {session.api_url} ({type(exc).__name__}: {exc})",
                Exit.UNAVAILABLE,
                "Is --api pointing at the AMR service? AMR_DEBUG=1 shows where it happened.",
            )
        )
        return int(Exit.UNAVAILABLE)
    except typer.TyperException as exc:  # usage errors (exit 2), shown with the usage line
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            out.err.print(f"error: {exc.message}")
        return int(exc.exit_code)
    return int(result) if isinstance(result, int) else 0
