"""Where output goes and how it looks: rich tables and colour on a terminal; on a pipe,
plain tab-separated lines without colour (design §14); JSON when `--json` asks.

rich decides colour itself (no colour without a terminal, `NO_COLOR` honoured); this
module only decides *shape*, because a rich table wrapped at 80 columns is no use to
`cut` or `awk`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from amrcli.errors import CliError

STATUS_STYLES = {
    "Submitted": "cyan",
    "Running": "yellow",
    "Completed": "green",
    "Error": "bold red",
    "Cancelled": "magenta",
    "Archived": "blue",
}
#: Columns a terminal table never folds (ids and times are copied and compared whole).
NO_WRAP = frozenset({"Job", "User", "Created", "Last login", "Status"})
TERMINAL = frozenset({"Completed", "Error", "Cancelled", "Archived"})
FAILED = frozenset({"Error", "Cancelled"})


@dataclass
class Output:
    out: Console = field(default_factory=lambda: Console(highlight=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))

    @property
    def rich(self) -> bool:
        """Bars, live views and tables only on a terminal."""
        return self.out.is_terminal

    @property
    def bars(self) -> bool:
        """Progress bars and live views go to stderr, when it is a terminal."""
        return self.err.is_terminal

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
        sys.stdout.flush()

    def json_line(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def line(self, text: str | Text = "") -> None:
        """One line on stdout; markup-free, so user data like `[x]` prints as it is."""
        if self.rich:
            self.out.print(text if isinstance(text, Text) else Text(text), soft_wrap=True)
        else:
            sys.stdout.write((text.plain if isinstance(text, Text) else text) + "\n")
            sys.stdout.flush()

    def note(self, text: str, style: str = "dim") -> None:
        """Progress chatter and hints: stderr, so stdout stays clean for scripts."""
        self.err.print(Text(text, style=style if self.err.is_terminal else ""), soft_wrap=True)

    def error(self, exc: CliError) -> None:
        self.err.print(Text("error: ", style="bold red") + Text(exc.message), soft_wrap=True)
        if exc.hint:
            self.err.print(Text(exc.hint, style="dim"), soft_wrap=True)

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
        rows = list(rows)
        if not self.rich:
            sys.stdout.write("\t".join(c.lower().replace(" ", "_") for c in columns) + "\n")
            for row in rows:
                sys.stdout.write("\t".join(_plain(v) for v in row) + "\n")
            sys.stdout.flush()
            return
        if title:
            self.out.print(Text(title, style="bold"), soft_wrap=True)
        table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for column in columns:
            table.add_column(column, overflow="fold", no_wrap=column in NO_WRAP)
        for row in rows:
            table.add_row(*[v if isinstance(v, Text) else Text(_plain(v)) for v in row])
        self.out.print(table)

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        """`key: value` lines (a record), aligned on a terminal, tab-separated on a pipe."""
        pairs = [(k, v) for k, v in pairs if v not in (None, "", [], {})]
        if not self.rich:
            for key, value in pairs:
                sys.stdout.write(f"{key}\t{_plain(value)}\n")
            sys.stdout.flush()
            return
        width = max((len(k) for k, _ in pairs), default=0)
        for key, value in pairs:
            self.out.print(
                Text(f"{key:<{width}}  ", style="bold") + (value if isinstance(value, Text) else Text(_plain(value)))
            )


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Text):
        return value.plain
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))
