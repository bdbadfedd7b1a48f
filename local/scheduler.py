"""Run the app's `@app.schedule` handlers on their own rates, like EventBridge rules do.

`rate(N unit)` is exact; `cron(...)` (AWS's six fields, UTC) is supported for `*`, `?`,
numbers, names, lists, ranges and steps — `L`, `W` and `#` are not, and such a schedule
then runs only on demand (`python -m local.run_schedule NAME`), with a warning.
Last run times are kept in the state directory, so a daily rule still runs daily when
the stack is restarted more often than that; a run missed while stopped is caught up
once at start.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local.config import ACCOUNT_ID, REGION
from local.discovery import Schedule
from local.files import atomic_write_json, read_json

log = logging.getLogger("local.scheduler")
STATE_FILE = "schedules.json"

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$", re.IGNORECASE)
_CRON = re.compile(r"^cron\((.+)\)$", re.IGNORECASE)
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DAYS = {d: i + 1 for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}  # AWS: SUN=1


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _field(spec: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """Values of one cron field; raises ValueError for what this parser does not support."""
    values: set[int] = set()
    for part in spec.upper().split(","):
        step, stepped = 1, "/" in part
        if stepped:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step < 1:
                raise ValueError(f"bad step in {spec!r}")
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = high if stepped else start
        if not (low <= start <= high and low <= end <= high and start <= end):
            raise ValueError(f"{spec!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ValueError(f"unsupported cron value {text!r}")
    return int(text)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # AWS numbering, SUN=1
    years: frozenset[int]

    @classmethod
    def parse(cls, body: str) -> Cron:
        parts = body.split()
        if len(parts) != 6:
            raise ValueError("cron needs six fields: minutes hours day-of-month month day-of-week year")
        return cls(
            minutes=_field(parts[0], 0, 59),
            hours=_field(parts[1], 0, 23),
            days=_field(parts[2], 1, 31),
            months=_field(parts[3], 1, 12, _MONTHS),
            weekdays=_field(parts[4], 1, 7, _DAYS),
            years=_field(parts[5], 1970, 2199),
        )

    def next_after(self, moment: datetime) -> datetime | None:
        """The first matching minute strictly after `moment` (UTC), or None within 5 years."""
        t = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=5 * 366)
        while t < limit:
            if t.year not in self.years:
                t = datetime(t.year + 1, 1, 1, tzinfo=UTC)
            elif t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif t.day not in self.days or (t.isoweekday() % 7 + 1) not in self.weekdays:
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        return None


def next_run(expression: str, last: datetime) -> datetime | None:
    """When a rule last fired (or was created) at `last` fires next; None if unsupported."""
    rate = _RATE.match(expression.strip())
    if rate:
        unit = rate.group(2).lower().rstrip("s")
        return last + timedelta(seconds=int(rate.group(1)) * _UNIT_SECONDS[unit])
    cron = _CRON.match(expression.strip())
    if cron:
        return Cron.parse(cron.group(1)).next_after(last)
    raise ValueError(f"unsupported schedule expression {expression!r}")


def scheduled_event(app_name: str, schedule_name: str, now: datetime | None = None) -> dict[str, Any]:
    """The EventBridge 'Scheduled Event' payload Lambda receives from a rule."""
    moment = now or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{app_name}-local-{schedule_name}"],
        "detail": {},
    }


class Scheduler:
    """One thread that fires due schedules one at a time (a rule never overlaps itself)."""

    def __init__(
        self,
        schedules: list[Schedule],
        state_dir: Path,
        run: Callable[[Schedule], None],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._schedules = schedules
        self._path = state_dir / STATE_FILE
        self._run = run
        self._now = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state: dict[str, dict[str, str]] = read_json(self._path) or {}
        self._due: dict[str, datetime | None] = {}
        for schedule in schedules:
            self._due[schedule.name] = self._first_due(schedule)

    def _first_due(self, schedule: Schedule) -> datetime | None:
        now = self._now()
        entry = self._state.setdefault(schedule.name, {"first_seen": _iso(now)})
        base = _parse_iso(entry.get("last_run") or entry["first_seen"])
        try:
            due = next_run(schedule.expression, base)
        except ValueError as exc:
            log.warning("schedule %s (%s) runs only on demand: %s", schedule.name, schedule.expression, exc)
            return None
        return due

    def plan(self) -> dict[str, str | None]:
        """Next due time per schedule (ISO), for the banner."""
        return {name: (_iso(due) if due else None) for name, due in self._due.items()}

    def start(self) -> None:
        atomic_write_json(self._path, self._state)
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def tick(self) -> None:
        """Run every schedule that is due now, then plan its next run."""
        for schedule in self._schedules:
            due = self._due.get(schedule.name)
            if due is None or due > self._now() or self._stop.is_set():
                continue
            started = self._now()
            try:
                self._run(schedule)
            finally:
                self._state[schedule.name]["last_run"] = _iso(started)
                atomic_write_json(self._path, self._state)
                # Plan from the run, not from `due`, so a long outage fires once, not N times.
                self._due[schedule.name] = next_run(schedule.expression, started)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.tick()
            except Exception:  # a failed rule must not stop the others
                log.exception("scheduler tick failed")
