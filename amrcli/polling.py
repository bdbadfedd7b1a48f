"""Polite polling: `watch`, `submit --wait` and `logs --follow`.

The service has no push channel, so the client asks — with a delay that starts short
(a small genome finishes in seconds), grows while nothing changes, and is honoured from
`Retry-After` when the service asks for it. Polling stops as soon as every job is in a
terminal status. A service that stays unreachable for several polls in a row ends the
wait with exit 5 instead of spinning forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from amrcli.api import Api, ApiError, job_path
from amrcli.errors import CliError, Exit
from amrcli.output import TERMINAL

MAX_UNAVAILABLE = 6
Sleep = Callable[[float], None]


@dataclass
class Backoff:
    """Delays of 1, 1.5, 2.25 … up to 10 s; back to 1 s whenever something changed."""

    initial: float = 1.0
    factor: float = 1.5
    maximum: float = 10.0
    delay: float = field(init=False)

    def __post_init__(self) -> None:
        self.delay = self.initial

    def next(self, changed: bool) -> float:
        if changed:
            self.delay = self.initial
        wait = self.delay
        self.delay = min(self.maximum, self.delay * self.factor)
        return wait


@dataclass
class Poller:
    """Polls until done, tolerating a few transient outages in a row."""

    sleep: Sleep = time.sleep
    backoff: Backoff = field(default_factory=Backoff)

    def run(self, probe: Callable[[], bool], done: Callable[[], bool]) -> None:
        """Call `probe` (True if it saw a change) until `done()`, waiting between calls."""
        failures = 0
        while True:
            retry_after: float | None = None
            try:
                changed = probe()
                failures = 0
            except CliError as exc:
                failures += 1
                if exc.exit_code != Exit.UNAVAILABLE or failures >= MAX_UNAVAILABLE:
                    raise
                changed = False
                retry_after = exc.retry_after if isinstance(exc, ApiError) else None
            if not failures and done():
                return
            self.sleep(max(self.backoff.next(changed), retry_after or 0.0))


def poll_jobs(
    api: Api,
    job_ids: list[str],
    on_update: Callable[[dict[str, Any]], None],
    poller: Poller | None = None,
) -> dict[str, dict[str, Any]]:
    """Poll until every job is terminal; `on_update` sees each job whenever it changed."""
    poller = poller or Poller()
    latest: dict[str, dict[str, Any]] = {}

    def probe() -> bool:
        changed = False
        for job_id in job_ids:
            if job_id in latest and latest[job_id]["status"] in TERMINAL:
                continue
            job = api.call("GET", job_path(job_id))
            before = latest.get(job_id)
            latest[job_id] = job
            if before is None or (before["status"], before["progress"]) != (job["status"], job["progress"]):
                changed = True
                on_update(job)
        return changed

    def done() -> bool:
        return len(latest) == len(job_ids) and all(j["status"] in TERMINAL for j in latest.values())

    poller.run(probe, done)
    return latest


def follow_logs(
    api: Api,
    job_id: str,
    emit: Callable[[dict[str, Any]], None],
    follow: bool,
    poller: Poller | None = None,
) -> dict[str, Any] | None:
    """Emit every event of a job, oldest first; with `follow`, keep going until the job is
    terminal and its last events are out. Returns the job's last state when following.

    Events are append-only, so re-reading the last page (same token) shows what was added
    to it, and a page that fills up hands out the token of the next one.
    """
    poller = poller or Poller()
    page_token: str | None = None  # the token of the page being read (None: the first)
    seen_on_page = 0

    def read_new() -> bool:
        nonlocal page_token, seen_on_page
        emitted = False
        while True:
            page = api.call("GET", job_path(job_id, "logs"), params={"next_token": page_token, "limit": 100})
            events = page["events"]
            for event in events[seen_on_page:]:
                emit(event)
                emitted = True
            if not page.get("next_token"):
                seen_on_page = len(events)
                return emitted
            page_token, seen_on_page = page["next_token"], 0

    if not follow:
        read_new()
        return None
    job: dict[str, Any] = {}

    def probe() -> bool:
        nonlocal job
        job = api.call("GET", job_path(job_id))  # status first: the events up to it are written
        return read_new()

    poller.run(probe, lambda: job.get("status") in TERMINAL)
    return job
