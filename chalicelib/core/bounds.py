"""Bounds on values derived from input, before they are stored or logged (design §23).

An uploaded file chooses its own headers, ids and lines; a message quoting one verbatim
can exceed DynamoDB's 400 KB item limit (the `Error` transition then fails and the job
stays `Running` until the stalled check) or fill a log line with a megabyte. Every such
value passes through `clip` on its way to a record, an event or a log line, and the
readers refuse lines longer than `max_line_bytes()` so memory stays bounded too.
"""

from __future__ import annotations

import os

#: A job's `error` and an event's message (DynamoDB items stay far below 400 KB).
MAX_MESSAGE_CHARS = 2000
#: A value quoted inside a message: an id, a header, a file name.
MAX_QUOTED_CHARS = 200
#: A logged string value.
MAX_LOG_VALUE_CHARS = 4000
#: A FASTA header line: NCBI's longest definition lines are a few kB.
MAX_HEADER_BYTES = 65_536
#: A sequence id (the header's first word), as it appears in results.
MAX_ID_CHARS = 1000
LINE_ENV = "AMR_MAX_LINE_BYTES"
#: A sequence line: the largest bacterial chromosomes (~16 Mb) fit on one line.
DEFAULT_MAX_LINE_BYTES = 32 << 20


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to at most `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    note = f"… [{len(text) - limit} more characters]"
    return text[: max(0, limit - len(note))] + note


def quote(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """`repr(text)` for a message, at most about `limit` characters."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"… ({len(text)} characters)"


def max_line_bytes() -> int:
    """The longest line a reader accepts (`AMR_MAX_LINE_BYTES`, default 32 MiB)."""
    value = os.environ.get(LINE_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_LINE_BYTES
