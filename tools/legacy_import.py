"""Import the users and jobs of the earlier AMR service's SQLite database (design §16).

    python -m tools.legacy_import PATH.db [--dry-run] [--files-root DIR] [--report FILE.json]

Writes into the stage the usual settings name (`tools.stage`). Safe to run again: a row
whose record exists in the stage is skipped, never overwritten (so a second run imports
nothing and says so); a row that cannot be imported is rejected with its reason and the
import goes on. The summary counts imported / skipped / rejected rows per table.

Mapping decisions (docs/operations.md has the operator's view):
- ids are kept when they are UUIDs (as the earlier service made them); any other id
  becomes a stable UUID derived from it (uuid5), kept as `legacy_id` / `legacy.id`;
- statuses in any case; `Running` jobs become `Error` "interrupted by migration";
- timestamps ISO-8601 or SQLite `TIMESTAMP` text (or Unix seconds), naive means UTC;
- bcrypt, passlib pbkdf2_sha256 and Argon2 hashes are kept (and become Argon2id at the
  first login); any other hash imports the account with a password reset required;
- the first of two usernames or emails that differ only in case wins, the later row is
  rejected; a job without a name, an owner or a known status is rejected, as are
  parameters whose job does not exist;
- a result file named by `result_file_path` (confined to `--files-root`: relative paths against it,
  default the database's directory) is uploaded to the results bucket as
  `results/{user}/{job}/legacy-{name}`; a missing file is reported and the job imported
  without results (its results route then says they were not migrated).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import mimetypes
import re
import sqlite3
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chalicelib.accounts import passwords, users
from chalicelib.core import clock
from chalicelib.core.errors import Conflict, ValidationFailed
from chalicelib.core.settings import Settings
from chalicelib.core.tables import STATUSES, JobModel
from chalicelib.jobs import imports, lifecycle, s3layout
from chalicelib.jobs.params import PredictParams
from tools import stage

USERS, JOBS, PARAMS, FILES = "users", "amr_jobs", "amr_job_params", "result files"
TABLES = (USERS, JOBS, PARAMS, FILES)
IMPORTED, SKIPPED, REJECTED = "imported", "skipped", "rejected"
INTERRUPTED = "interrupted by migration"
IMPORT_MESSAGE = "Imported from legacy database"
#: uuid5 namespace for ids of the earlier service that are not UUIDs (fixed forever).
LEGACY_NAMESPACE = uuid.UUID("6f1d3c52-5a57-4d0e-9b1e-2f7b0e4f7a11")
JOB_CHUNK = 1000
#: Parameter columns of the one-row-per-job shape of `amr_job_params`.
PARAM_COLUMNS = (
    "model_name",
    "batch_size",
    "segment_length",
    "segment_overlap",
    "use_cpu",
    "min_identity",
    "min_coverage",
)
_STATUS_BY_LOWER = {s.lower(): s for s in STATUSES}
_FIELDS = PredictParams.__dataclass_fields__
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Rejected(Exception):
    """A row that cannot be imported; the message is the reason reported."""


# --- the report ---------------------------------------------------------------------


@dataclass
class Report:
    dry_run: bool = False
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {t: Counter() for t in TABLES})
    entries: list[dict[str, Any]] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, table: str, outcome: str, row_id: Any, reason: str | None = None) -> None:
        self.counts[table][outcome] += 1
        if reason is not None:
            self.entries.append({"table": table, "outcome": outcome, "id": str(row_id), "reason": reason})

    @property
    def imported(self) -> int:
        return sum(c[IMPORTED] for c in self.counts.values())

    def summary(self) -> str:
        verb = "would be imported" if self.dry_run else IMPORTED
        lines = [f"{'table':<16}{verb:>18}{SKIPPED:>10}{REJECTED:>10}"]
        for table in TABLES:
            c = self.counts[table]
            lines.append(f"{table:<16}{c[IMPORTED]:>18,}{c[SKIPPED]:>10,}{c[REJECTED]:>10,}")
        return "\n".join(lines)

    def reasons(self, ids_shown: int = 3) -> str:
        """Skipped and rejected rows grouped by reason, with the first few ids."""
        groups: dict[tuple[str, str, str], list[str]] = {}
        spelt: dict[tuple[str, str, str], set[str]] = {}
        for entry in self.entries:
            if entry["outcome"] != IMPORTED:
                group = (entry["table"], entry["outcome"], _generic(entry["reason"]))
                groups.setdefault(group, []).append(entry["id"])
                spelt.setdefault(group, set()).add(entry["reason"])
        lines = []
        for (table, outcome, generic), ids in sorted(groups.items()):
            reasons = spelt[(table, outcome, generic)]
            reason = next(iter(reasons)) if len(reasons) == 1 else generic  # one spelling: show its values
            shown = ", ".join(ids[:ids_shown]) + (f", ... (+{len(ids) - ids_shown})" if len(ids) > ids_shown else "")
            lines.append(f"  {table} {outcome} {len(ids):,}: {reason} [{shown}]")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
            "counts": {t: {o: self.counts[t][o] for o in (IMPORTED, SKIPPED, REJECTED)} for t in TABLES},
            "notes": dict(self.notes),
            "rows": self.entries,
        }


def _generic(reason: str) -> str:
    """A reason without its row-specific values, for grouping (`'Bob'` -> `'…'`)."""
    return re.sub(r"'[^']*'", "'…'", reason)


# --- reading the legacy database --------------------------------------------------------


class LegacyDatabase:
    """The earlier service's SQLite file, opened read-only."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise SystemExit(f"{path}: no such file")
        self.path = path
        try:
            self.conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            self.conn.row_factory = sqlite3.Row
            self.columns = {
                name: [r["name"] for r in self.conn.execute(f"PRAGMA table_info({name})")]
                for name in (USERS, JOBS, PARAMS)
            }
        except sqlite3.DatabaseError as exc:
            raise SystemExit(f"{path}: not a readable SQLite database ({exc})") from None
        for name in (USERS, JOBS):
            if not self.columns[name]:
                raise SystemExit(f"{path}: no table {name!r}; not a database of the earlier AMR service")
        param_columns = self.columns[PARAMS]
        self.param_shape = "rows" if "param_name" in param_columns else "columns" if param_columns else None

    def users(self) -> Iterator[sqlite3.Row]:
        """Oldest row first: of two rows whose names differ only in case, the first wins."""
        yield from self.conn.execute(f"SELECT * FROM {USERS} ORDER BY rowid")

    def job_chunks(self, size: int = JOB_CHUNK) -> Iterator[list[sqlite3.Row]]:
        """Jobs in chunks, so a database larger than memory streams through."""
        # By owner, so that a chunk holds few owners and their transactions are full.
        cursor = self.conn.execute(f"SELECT * FROM {JOBS} ORDER BY user_id, rowid")
        while rows := cursor.fetchmany(size):
            yield rows

    def params_of(self, job_ids: list[str]) -> dict[str, list[tuple[str, str, Any]]]:
        """Legacy job id -> [(row id, parameter name, value)] in either table shape."""
        out: dict[str, list[tuple[str, str, Any]]] = {}
        if self.param_shape is None or not job_ids:
            return out
        marks = ",".join("?" * len(job_ids))
        rows = self.conn.execute(f"SELECT * FROM {PARAMS} WHERE job_id IN ({marks}) ORDER BY rowid", job_ids)
        for row in rows:
            job_id = str(row["job_id"])
            if self.param_shape == "rows":
                row_id = str(row["id"]) if "id" in row.keys() else f"{job_id}:{row['param_name']}"
                out.setdefault(job_id, []).append((row_id, str(row["param_name"] or ""), row["param_value"]))
            else:
                for name in row.keys():
                    if name != "job_id" and row[name] is not None:
                        out.setdefault(job_id, []).append((f"{job_id}:{name}", name, row[name]))
        return out

    def orphan_params(self) -> Iterator[tuple[str, str]]:
        """(row id, job id) of parameters whose job does not exist."""
        if self.param_shape is None:
            return
        id_column = "id" if self.param_shape == "rows" and "id" in self.columns[PARAMS] else "job_id"
        yield from (
            (str(r[0]), str(r[1]))
            for r in self.conn.execute(
                f"SELECT {id_column}, job_id FROM {PARAMS} "
                f"WHERE job_id IS NULL OR job_id NOT IN (SELECT id FROM {JOBS})"
            )
        )


# --- converting values ----------------------------------------------------------------


def stage_id(legacy_id: Any) -> tuple[str, str | None]:
    """(the id in this service, the legacy id when it had to be mapped)."""
    text = str(legacy_id).strip() if legacy_id is not None else ""
    if not text:
        raise Rejected("missing id")
    try:
        return str(uuid.UUID(text)), None
    except ValueError:
        return str(uuid.uuid5(LEGACY_NAMESPACE, text)), text


def parse_time(value: Any, name: str, *, required: bool = False) -> str | None:
    """A legacy timestamp as ours (`2026-11-24T19:12:00.123Z`); naive means UTC."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Rejected(f"missing {name}")
        return None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(float(value), UTC)
        else:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise Rejected(f"{name} {str(value)[:40]!r} is not a timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return clock.to_iso(moment)


def parse_bool(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(text)
    return text in ("true", "1", "yes")


def parse_status(value: Any) -> str:
    status = _STATUS_BY_LOWER.get(str(value or "").strip().lower())
    if status is None:
        raise Rejected(f"unknown status {str(value)[:40]!r}")
    return status


def parse_progress(value: Any, status: str) -> float:
    if value is None or value == "":
        return 100.0 if status in (lifecycle.COMPLETED, lifecycle.ARCHIVED) else 0.0
    try:
        progress = float(value)
    except (TypeError, ValueError):
        raise Rejected(f"progress {str(value)[:40]!r} is not a number") from None
    if math.isnan(progress):
        raise Rejected("progress is not a number")
    return round(min(100.0, max(0.0, progress)), 2)


def parse_param(name: str, value: Any) -> Any:
    """One parameter, checked alone by the rules of `POST /jobs`; values stored as text
    ('8', 'true', '0.95') are converted the way pydantic converts text (lax mode)."""
    if name not in _FIELDS:
        raise Rejected(f"unknown parameter {name[:40]!r}")
    clean = value.strip() if isinstance(value, str) else value
    try:
        return _validated({name: clean})[name]
    except ValueError as exc:
        raise Rejected(f"{name} = {str(value)[:40]!r} is not valid ({exc})") from None


def _validated(params: dict[str, Any]) -> dict[str, Any]:
    """The effective parameters as `POST /jobs` stores them; ValueError when invalid."""
    from pydantic import ValidationError

    from chalicelib.jobs.schemas import JobParams

    try:
        return JobParams.model_validate(params, strict=False).to_store()
    except ValidationError as exc:
        raise ValueError(
            "; ".join(str(e.get("msg", "invalid")).removeprefix("Value error, ") for e in exc.errors())
        ) from None


@functools.lru_cache(maxsize=1)
def _job_name_rule() -> Any:
    from pydantic import TypeAdapter

    from chalicelib.jobs.schemas import JobName

    return TypeAdapter(JobName)


def job_name(value: Any) -> str:
    from pydantic import ValidationError

    if value is None or not str(value).strip():
        raise Rejected("missing job name")
    try:
        return str(_job_name_rule().validate_python(str(value)))
    except ValidationError as exc:
        raise Rejected(f"job name is not valid ({exc.errors()[0].get('msg')})") from None


def _text(row: sqlite3.Row, column: str) -> str | None:
    if column not in row.keys() or row[column] is None:
        return None
    return str(row[column])


# --- users ------------------------------------------------------------------------------


def to_account(row: sqlite3.Row, allow_admins: bool = False) -> users.ImportedAccount:
    user_id, legacy_id = stage_id(row["id"])
    username, email = (_text(row, "username") or "").strip(), (_text(row, "email") or "").strip()
    try:
        users.validate_username(username)
        users.validate_email(email)
    except ValidationFailed as exc:
        raise Rejected(exc.message) from None
    role = (_text(row, "role") or "user").strip().lower()
    if role not in users.ROLES:
        raise Rejected(f"unknown role {role[:20]!r}")
    if role == "admin" and not allow_admins:  # an imported file must not mint administrators (design §23)
        raise Rejected("admin account refused: import administrators only with --allow-admins")
    try:
        active = parse_bool(row["is_active"] if "is_active" in row.keys() else None, True)
    except ValueError:
        raise Rejected(f"is_active {str(row['is_active'])[:20]!r} is not a boolean") from None
    stored = (_text(row, "password_hash") or "").strip()
    return users.ImportedAccount(
        user_id=user_id,
        username=username,
        email=email,
        password_hash=stored if passwords.is_supported_hash(stored) else None,
        role=role,
        is_active=active,
        created_at=parse_time(row["created_at"] if "created_at" in row.keys() else None, "created_at", required=True)
        or "",
        last_login=parse_time(row["last_login"] if "last_login" in row.keys() else None, "last_login"),
        legacy_id=legacy_id,
    )


def import_users(db: LegacyDatabase, report: Report, allow_admins: bool = False) -> dict[str, str]:
    """Import every account; returns legacy id -> stage user id of the accounts that are
    in the stage afterwards (imported now or before), i.e. the owners jobs may have."""
    owners: dict[str, str] = {}
    names: dict[str, str] = {}
    emails: dict[str, str] = {}
    for row in db.users():
        legacy_id = str(row["id"])
        try:
            account = to_account(row, allow_admins)
            for seen, value, spelt, what in (
                (names, account.username.lower(), account.username, "username"),
                (emails, account.email.casefold(), account.email, "email"),
            ):
                if value in seen:
                    raise Rejected(f"duplicate {what} {spelt!r} (differs only in case from user {seen[value]!r})")
            outcome, reason = _write_account(account, report.dry_run)
        except Rejected as exc:
            report.add(USERS, REJECTED, legacy_id, str(exc))
            continue
        names[account.username.lower()] = emails[account.email.casefold()] = legacy_id
        owners[legacy_id] = account.user_id
        if outcome == IMPORTED and account.password_hash is None:
            report.notes["users imported with a password reset required (unknown hash format)"] += 1
            reason = "imported with a password reset required: unknown password hash format"
        report.add(USERS, outcome, legacy_id, reason)
    return owners


def _same_account(account: users.ImportedAccount) -> bool:
    """Whether the stage's account with this id is the legacy row's (same username and email):
    a file naming the id of someone else's account must not hand its jobs to them, or theirs to it."""
    holder = users.get_user(account.user_id)
    return holder is not None and (
        str(holder.username).lower() == account.username.lower()
        and str(holder.email).casefold() == account.email.casefold()
    )


def _write_account(account: users.ImportedAccount, dry_run: bool) -> tuple[str, str | None]:
    existing = users.get_user(account.user_id)
    if existing is not None and not _same_account(account):
        raise Rejected("the user id belongs to a different account of this stage (username or email differ)")
    if dry_run:
        if existing is not None:
            return SKIPPED, "already in the stage (kept as it is)"
        for holder, what in (
            (users.get_user_by_username(account.username), "username"),
            (users.get_user_by_email(account.email), "email"),
        ):
            if holder is not None:
                raise Rejected(f"the {what} belongs to another account of this stage")
        return IMPORTED, None
    try:
        written = users.import_account(account)
    except Conflict as exc:
        raise Rejected(exc.message) from None
    return (IMPORTED, None) if written else (SKIPPED, "already in the stage (kept as it is)")


# --- jobs -------------------------------------------------------------------------------


@dataclass
class Candidate:
    """A legacy job that passed validation, with what follows from its outcome."""

    legacy_id: str
    job: JobModel
    events: tuple[tuple[str, str], ...]
    params: list[tuple[str, str | None]]  # (row id, rejection reason or None)
    result_path: str | None
    interrupted: bool = False


def to_candidate(row: sqlite3.Row, owners: dict[str, str], param_rows: list[tuple[str, str, Any]]) -> Candidate:
    legacy_id = str(row["id"])
    job_id, _ = stage_id(row["id"])
    owner = _text(row, "user_id")
    if owner is None or not owner.strip():
        raise Rejected("no owner (user_id is empty)")
    if owner not in owners:
        raise Rejected(f"owner {owner[:40]!r} was not imported")
    name = job_name(row["job_name"] if "job_name" in row.keys() else None)
    legacy_status = _text(row, "status") or ""
    status = parse_status(legacy_status)
    created = parse_time(row["created_at"] if "created_at" in row.keys() else None, "created_at", required=True) or ""
    started = parse_time(row["started_at"] if "started_at" in row.keys() else None, "started_at")
    completed = parse_time(row["completed_at"] if "completed_at" in row.keys() else None, "completed_at")
    progress = parse_progress(row["progress"] if "progress" in row.keys() else None, status)
    error = _text(row, "error")
    events = [("INFO", f"{IMPORT_MESSAGE} (status {legacy_status}, id {legacy_id})")]
    if status == lifecycle.RUNNING:
        status, error, completed = lifecycle.ERROR, INTERRUPTED, clock.now_iso()
        events.append(("ERROR", f"Status Running -> Error: {INTERRUPTED}"))

    params: dict[str, Any] = {}
    outcomes: list[tuple[str, str | None]] = []
    for row_id, param, value in param_rows:
        try:
            params[param] = parse_param(param, value)
            outcomes.append((row_id, None))
        except Rejected as exc:
            outcomes.append((row_id, str(exc)))
    try:
        stored = _validated(params)
    except ValueError as exc:  # each value is fine, together they are not
        outcomes = [
            (row_id, reason or f"parameters of this job do not fit together ({exc})") for row_id, reason in outcomes
        ]
        stored = _validated({})

    input_path = _text(row, "input_file_path")
    result_path = _text(row, "result_file_path")
    legacy = {"id": legacy_id, "status": legacy_status, "input_file_path": input_path, "result_file_path": result_path}
    times = [t for t in (created, started, completed) if t]
    job = imports.imported_job(
        job_id=job_id,
        user_id=owners[owner],
        status=status,
        created_at=created,
        job_name=name,
        progress=progress,
        started_at=started,
        completed_at=completed,
        updated_at=max(times),
        error=error,
        params=stored,
        model_name=stored["model_name"],
        input_filename=Path(input_path).name if input_path else None,
        legacy={k: v for k, v in legacy.items() if v is not None},
    )
    return Candidate(legacy_id, job, tuple(events), outcomes, result_path, interrupted=len(events) > 1)


def existing_job_ids(job_ids: Iterable[str]) -> set[str]:
    """Which of these jobs exist in the stage: BatchGetItem, 100 keys a call."""
    return {job.job_id for job in JobModel.batch_get(list(job_ids), attributes_to_get=["job_id"])}


def import_jobs(
    db: LegacyDatabase, owners: dict[str, str], report: Report, settings: Settings, files_root: Path
) -> None:
    for rows in db.job_chunks():
        param_rows = db.params_of([str(r["id"]) for r in rows])
        candidates: list[Candidate] = []
        for row in rows:
            legacy_id = str(row["id"])
            try:
                candidates.append(to_candidate(row, owners, param_rows.get(legacy_id, [])))
            except Rejected as exc:
                report.add(JOBS, REJECTED, legacy_id, str(exc))
                for row_id, _, _ in param_rows.get(legacy_id, []):
                    report.add(PARAMS, REJECTED, row_id, "its job was rejected")
        present = existing_job_ids(c.job.job_id for c in candidates)
        fresh = [c for c in candidates if c.job.job_id not in present]
        for candidate in fresh:
            _attach_results(candidate, report, settings, files_root)
        if not report.dry_run and fresh:
            present |= set(imports.import_jobs([imports.ImportedJob(c.job, c.events) for c in fresh]))
        for candidate in candidates:
            _report_job(candidate, candidate.job.job_id in present, report)


def _report_job(candidate: Candidate, present: bool, report: Report) -> None:
    if present:
        report.add(JOBS, SKIPPED, candidate.legacy_id, "already in the stage (kept as it is)")
        for row_id, reason in candidate.params:
            report.add(PARAMS, REJECTED if reason else SKIPPED, row_id, reason or "its job is already in the stage")
        return
    report.add(JOBS, IMPORTED, candidate.legacy_id)
    if candidate.interrupted:
        report.notes[f"Running jobs imported as Error ({INTERRUPTED})"] += 1
    for row_id, reason in candidate.params:
        report.add(PARAMS, REJECTED if reason else IMPORTED, row_id, reason)


def confined(value: str, files_root: Path) -> Path | None:
    """`value` as a file under `files_root` (relative, or absolute inside it), with `..` and
    symbolic links resolved; None when it points anywhere else (design §23: an imported
    database must not make the tool upload `/etc/shadow` or `../../.ssh/id_rsa`)."""
    if "\x00" in value:
        return None
    root = files_root.resolve()
    path = Path(value)
    resolved = (path if path.is_absolute() else root / path).resolve()
    return resolved if resolved.is_relative_to(root) and resolved != root else None


def _attach_results(candidate: Candidate, report: Report, settings: Settings, files_root: Path) -> None:
    """Upload the job's local result file (before the job is written, so a job never
    names a missing object); a missing file is reported and the job imported without."""
    if not candidate.result_path:
        if candidate.job.status in (lifecycle.COMPLETED, lifecycle.ARCHIVED):
            report.notes["Completed/Archived jobs imported without a result file"] += 1
        return
    path = confined(candidate.result_path, files_root)
    if path is None:
        report.add(
            FILES,
            REJECTED,
            candidate.legacy_id,
            f"result path outside the files root (--files-root): {candidate.result_path[:200]!r}",
        )
        return
    if not path.is_file():
        report.add(FILES, REJECTED, candidate.legacy_id, f"result file not found: {candidate.result_path[:200]!r}")
        return
    job = candidate.job
    key = s3layout.result_key(job.user_id, job.job_id, "legacy-" + (_UNSAFE.sub("_", path.name)[:100] or "results"))
    if not report.dry_run:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        stage.s3().upload_file(
            str(path),
            settings.results_bucket,
            key,
            ExtraArgs={
                "ContentType": content_type,
                "Metadata": {"legacy-path": quote(str(candidate.result_path))[:1024]},
            },
        )
    # list-item: pynamodb types a list's items as their attribute class; the stored items are str
    job.result_keys = [key]  # type: ignore[list-item]
    report.add(FILES, IMPORTED, candidate.legacy_id)


def orphan_params(db: LegacyDatabase, report: Report) -> None:
    for row_id, job_id in db.orphan_params():
        report.add(PARAMS, REJECTED, row_id, f"orphan: no job {job_id[:40]!r} in amr_jobs")


# --- entry point ------------------------------------------------------------------------


def run(
    path: Path, *, dry_run: bool = False, files_root: Path | None = None, settings: Settings, allow_admins: bool = False
) -> Report:
    """Import (or, with `dry_run`, check) the database into the bound stage."""
    started = time.perf_counter()
    db = LegacyDatabase(path)
    report = Report(dry_run=dry_run)
    owners = import_users(db, report, allow_admins)
    import_jobs(db, owners, report, settings, files_root or path.resolve().parent)
    orphan_params(db, report)
    report.seconds = time.perf_counter() - started
    return report


def render(report: Report, path: Path, settings: Settings) -> str:
    jobs = report.counts[JOBS][IMPORTED]
    rate = f", {jobs / report.seconds:,.0f} jobs/s" if jobs and report.seconds else ""
    head = f"Legacy import of {path.name} into {stage.describe(settings)}" + (
        " (dry run: nothing written)" if report.dry_run else ""
    )
    parts = [head, "", report.summary(), "", f"time: {report.seconds:.1f} s{rate}"]
    if report.imported == 0:
        parts.append("Nothing to import: every row is already in the stage or was rejected.")
    if report.notes:
        parts += ["", "notes:"] + [f"  {text}: {n:,}" for text, n in sorted(report.notes.items())]
    reasons = report.reasons()
    if reasons:
        parts += ["", "skipped and rejected rows (reason: count [first ids]):", reasons]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.legacy_import", description="Import the earlier AMR service's users and jobs."
    )
    parser.add_argument("database", type=Path, help="the earlier service's SQLite file")
    parser.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
    parser.add_argument(
        "--files-root", type=Path, help="base of relative result_file_path values (default: the database's directory)"
    )
    parser.add_argument(
        "--report", type=Path, help="also write the full report (every skipped or rejected row) as JSON"
    )
    parser.add_argument(
        "--allow-admins", action="store_true", help="import accounts whose role is admin (refused otherwise)"
    )
    args = parser.parse_args(argv)
    settings = stage.connect()
    report = run(
        args.database,
        dry_run=args.dry_run,
        files_root=args.files_root,
        settings=settings,
        allow_admins=args.allow_admins,
    )
    print(render(report, args.database, settings))
    if args.report:
        args.report.write_text(json.dumps(report.as_dict(), indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
