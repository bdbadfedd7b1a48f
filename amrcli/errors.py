"""Exit statuses (design §14) and the one error every command raises to end with one.

Scripts branch on the status, people read the message; so each error carries both, plus
a hint that says what to do next.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    JOB_FAILED = 1  # a job ended in Error or Cancelled, or the job's state refused the operation
    USAGE = 2  # wrong arguments, a missing file, or input the service rejected as invalid
    AUTH = 3  # not logged in, an expired or revoked token, wrong password, not an administrator
    NOT_FOUND = 4
    UNAVAILABLE = 5  # the service or storage cannot be reached
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class CliError(Exception):
    """A failure the user can act on: shown as `error: message` (+ hint), never a trace."""

    def __init__(self, message: str, exit_code: Exit, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.hint = hint


def exit_for_status(status: int, code: str = "") -> Exit:
    """The exit status for an HTTP error answer of the service."""
    if status in (401, 403) or (status == 429 and code == "too_many_requests"):
        return Exit.AUTH
    if status == 404:
        return Exit.NOT_FOUND
    if status >= 500 or status == 429:
        return Exit.UNAVAILABLE
    if status == 409:
        return Exit.JOB_FAILED
    return Exit.USAGE
