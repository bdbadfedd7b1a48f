"""TSV cells that open as text in a spreadsheet (design §13, §23).

A cell beginning with `= + - @` is a formula to Excel, LibreOffice and Google Sheets, and
values in our tables come from uploads (contig ids, file names) and metadata; such a cell
gets a leading `'`, which spreadsheets show as text (a lone `+`/`-` strand and a plain
number stay as they are: they cannot run anything). Tabs and line breaks would break the
table, so they become spaces. Every TSV the service writes goes through `cell`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@")
#: A lone sign (a strand) or a plain number is data, never a formula: left as it is.
_PLAIN = re.compile(r"^[+-]$|^[+-]?[0-9]+(\.[0-9]+)?$")


def cell(value: Any) -> str:
    """One TSV cell, safe to open in a spreadsheet."""
    text = "" if value is None else str(value)
    text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return "'" + text if text[:1] in FORMULA_STARTS and not _PLAIN.match(text) else text


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A header line and one line per row, every cell through `cell`."""
    lines = ["\t".join(header)]
    lines += ["\t".join(cell(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"
