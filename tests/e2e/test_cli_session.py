"""End to end: the `amr` client against the local stack, run as a user runs it.

Each command is a subprocess (`python -m amrcli`, this checkout's client) with its own
config directory; stdout is a pipe (so: plain lines, no colour) except in the
pseudo-terminal test, which checks the bars and colours a person sees. The tests run in
file order and share one stack and one user.
"""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import jwt
import openpyxl
import pexpect
import pytest

from amrcli.jobs import FORMAT_FILES
from tests.e2e.localstack import ADMIN_PASSWORD, GENOME, JOB_SECONDS, PROJECT_DIR, RESULTS_BUCKET, Stack, free_port, needs_db

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
USER, PASSWORD, EMAIL = "carol", "correct-horse-3", "carol@example.org"
ANSI = "\x1b["
CLI_SECONDS = JOB_SECONDS + 60


def amr(
    stack: Stack,
    home: Path,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`amr ARGS` with its own config home, against the stack (or `--api` in ARGS)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AMR_", "AWS_", "NO_COLOR", "FORCE_COLOR"))}
    environment.update(AMR_API_URL=stack.api, XDG_CONFIG_HOME=str(home), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "amrcli", *args],
        cwd=PROJECT_DIR,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_SECONDS,
    )


def rows(output: str) -> list[dict[str, str]]:
    """A plain (piped) table: a header line of column names, then tab-separated rows."""
    lines = [line for line in output.splitlines() if line]
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def s3_text(stack: Stack, key: str) -> str:
    return stack.s3().get_object(Bucket=RESULTS_BUCKET, Key=key)["Body"].read().decode()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("amr-config")


@pytest.fixture(scope="module")
def genome_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test isolate under a name with a space, as people name files."""
    path = tmp_path_factory.mktemp("genomes") / "isolate 1.fa.gz"
    path.write_bytes(GENOME.read_bytes())
    return path


def test_register_logs_in_and_keeps_the_token_private(stack: Stack, home: Path) -> None:
    done = amr(stack, home, "register", "--username", USER, "--email", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    creds = home / "amr" / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert PASSWORD not in creds.read_text()
    me = amr(stack, home, "whoami", "--json")
    assert me.returncode == 0 and json.loads(me.stdout)["username"] == USER
    stack.shared["token"] = json.loads(creds.read_text())[stack.api]["token"]


def test_a_wrong_password_is_exit_3_and_keeps_the_login(stack: Stack, home: Path) -> None:
    before = (home / "amr" / "credentials.json").read_text()
    done = amr(stack, home, "login", USER, "--password-stdin", stdin="not-my-password\n")
    assert done.returncode == 3
    assert "Wrong username or password" in done.stderr and "Traceback" not in done.stderr
    assert (home / "amr" / "credentials.json").read_text() == before
    again = amr(stack, home, "login", USER, "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 0, again.stderr


@needs_db
def test_submit_wait_runs_the_genome_and_ends_with_its_findings(stack: Stack, home: Path, genome_copy: Path) -> None:
    done = amr(stack, home, "submit", str(genome_copy), "--wait", "--name", "Ward 7")
    assert done.returncode == 0, done.stderr
    assert ANSI not in done.stdout + done.stderr  # a pipe gets no colour and no bars
    (row,) = rows(done.stdout)
    job = stack.http("GET", f"/jobs/{row['job']}", token=stack.shared["token"]).body
    assert job["status"] == "Completed" and job["job_name"] == "Ward 7" == row["name"]
    assert job["input"]["filename"] == "isolate_1.fa.gz"
    expected = job["summary"]["resistant"]  # the phenotype table's verdict, as the service summarises it
    assert expected and row["status"] == "Completed" and row["resistant_to"] == ", ".join(expected)
    assert "uploaded isolate 1.fa.gz" in done.stderr and f"Ward 7 ({job['job_id']}) Completed" in done.stderr
    stack.shared["job"] = job


@needs_db
def test_results_in_each_format_match_the_result_files(stack: Stack, home: Path, tmp_path: Path) -> None:
    job = stack.shared["job"]
    keys = [o["Key"] for o in stack.s3().list_objects_v2(Bucket=RESULTS_BUCKET).get("Contents", [])]
    mine = {k.rsplit("/", 1)[-1]: k for k in keys if f"/{job['job_id']}/" in k}
    assert sorted(mine) == sorted(FORMAT_FILES.values())  # every result file has its --format

    table = amr(stack, home, "results", job["job_id"])
    assert table.returncode == 0, table.stderr
    phenotypes = rows(table.stdout)
    verdicts = [r["phenotype"] for r in phenotypes]
    assert verdicts == sorted(verdicts, key=lambda v: v != "Resistant") and "No resistance" in verdicts  # resistant first
    resistant = [r for r in phenotypes if r["phenotype"] == "Resistant"]
    assert {r["antimicrobial"] for r in resistant} == set(job["summary"]["resistant"])
    assert all(r["genes_and_mutations"] and r["match"] for r in resistant)
    predictions = json.loads(s3_text(stack, mine["predictions.json"]))
    assert len(phenotypes) == len(predictions["phenotypes"])

    as_json = amr(stack, home, "results", job["job_id"], "--format", "json")
    assert json.loads(as_json.stdout) == json.loads(s3_text(stack, mine["predictions.json"]))
    assert json.loads(amr(stack, home, "results", job["job_id"], "--json").stdout) == json.loads(as_json.stdout)
    for fmt, name in FORMAT_FILES.items():
        if fmt.value != "json":
            printed = amr(stack, home, "results", job["job_id"], "--format", fmt.value).stdout
            assert printed == s3_text(stack, mine[name]), fmt.value

    written = amr(stack, home, "results", job["job_id"], "--output", str(tmp_path / "out"))
    assert written.returncode == 0, written.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(mine)
    for name, key in mine.items():
        assert (tmp_path / "out" / name).read_text() == s3_text(stack, key)
    assert written.stdout.split() == [str(tmp_path / "out" / n) for n in sorted(mine)]


@needs_db
def test_submit_under_a_terminal_draws_bars_and_colours(stack: Stack, home: Path, genome_copy: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AMR_", "NO_COLOR"))}
    environment.update(AMR_API_URL=stack.api, XDG_CONFIG_HOME=str(home), TERM="xterm-256color")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "amrcli", "submit", str(genome_copy), "--wait"],
        cwd=str(PROJECT_DIR),
        env=environment,
        encoding="utf-8",
        timeout=CLI_SECONDS,
        dimensions=(40, 160),
    )
    child.expect(pexpect.EOF)
    child.close()
    screen = child.before
    assert child.exitstatus == 0, screen
    assert ANSI in screen  # colour
    assert "━" in screen and "isolate 1.fa.gz" in screen and "kB" in screen  # the upload bar, in bytes
    assert "100%" in screen and "Completed" in screen  # the job's bar and status
    assert "────" in screen and "Resistant to" in screen  # the final table, drawn


@needs_db
def test_several_files_upload_in_parallel_and_each_becomes_a_job(stack: Stack, home: Path, tmp_path: Path) -> None:
    files = []
    for name in ("sample_a.fasta", "sample_b.fna.gz", "sample_c.fa.gz"):
        path = tmp_path / name
        data = GENOME.read_bytes()
        path.write_bytes(gzip.decompress(data) if not name.endswith(".gz") else data)
        files.append(str(path))
    done = amr(stack, home, "submit", *files, "--name", "run42", "--wait", "--json", "--parallel", "3")
    assert done.returncode == 0, done.stderr
    jobs = json.loads(done.stdout)["jobs"]
    assert sorted(j["job_name"] for j in jobs) == ["run42 sample_a", "run42 sample_b", "run42 sample_c"]
    assert {j["status"] for j in jobs} == {"Completed"}
    assert len({tuple(j["summary"]["gene_names"]) for j in jobs}) == 1  # the same genome, the same genes
    listed = rows(amr(stack, home, "jobs", "--all").stdout)
    assert {j["job_id"] for j in jobs} <= {r["job"] for r in listed}


@needs_db
def test_a_run_submitted_as_a_batch_reads_as_one_matrix(stack: Stack, home: Path, tmp_path: Path) -> None:
    files = []
    for name, source in (("KP_01.fa.gz", GENOME), ("EC_05.fa.gz", GENOME.with_name("test_isolate_05.fa.gz"))):
        (tmp_path / name).write_bytes(source.read_bytes())
        files.append(str(tmp_path / name))
    done = amr(stack, home, "submit", *files, "--batch", "plate 3", "--species", "escherichia_coli", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    batch_id = answer["batch"]["batch_id"]
    assert [j["batch_id"] for j in answer["jobs"]] == [batch_id, batch_id]
    assert {j["status"] for j in answer["jobs"]} == {"Completed"}

    listed = rows(amr(stack, home, "batches").stdout)
    assert listed[0]["batch"] == batch_id and listed[0]["status"] == "Finished" and listed[0]["samples"] == "2"
    shown = dict(line.split("\t", 1) for line in amr(stack, home, "batch", "show", batch_id).stdout.splitlines())
    assert shown["status"] == "Finished" and shown["jobs"] == "2 Completed"

    table = {r["sample"]: r for r in rows(amr(stack, home, "batch", "matrix", batch_id).stdout)}
    assert set(table) == {"KP_01", "EC_05"}
    assert "ciprofloxacin" in table["EC_05"]["resistant_to"] and table["EC_05"]["mutations"] == "gyrA p.S83A"
    tsv = amr(stack, home, "batch", "matrix", batch_id, "--format", "tsv")
    served = stack.http("GET", f"/batches/{batch_id}/matrix?format=tsv", token=stack.shared["token"]).body
    assert tsv.returncode == 0 and tsv.stdout == served
    cells = rows(tsv.stdout)
    assert [c["sample"] for c in cells] == ["KP_01", "EC_05"] and cells[1]["ciprofloxacin"] == "R"
    written = tmp_path / "plate3.tsv"
    assert amr(stack, home, "batch", "matrix", batch_id, "--format", "tsv", "-o", str(written)).returncode == 0
    assert written.read_text() == served
    book_file = tmp_path / "plate3.xlsx"  # the batch workbook (design §21), through the local gateway as bytes
    assert amr(stack, home, "batch", "matrix", batch_id, "--format", "xlsx", "-o", str(book_file)).returncode == 0
    book = openpyxl.load_workbook(book_file)
    assert book.sheetnames == ["Summary", "Matrix", "Genes", "Mutations", "Plasmids", "MLST", "QC", "Settings"]
    matrix_rows = list(book["Matrix"].iter_rows(values_only=True))
    header = list(matrix_rows[0])
    assert [r[0] for r in matrix_rows[1:]] == ["KP_01", "EC_05"]
    assert matrix_rows[2][header.index("ciprofloxacin")] == "R"
    assert any(r[0] == "EC_05" and r[2] == "gyrA p.S83A" for r in book["Mutations"].iter_rows(values_only=True))

    watched = amr(stack, home, "watch", "--batch", batch_id)
    assert watched.returncode == 0 and len(rows(watched.stdout)) == 2
    assert amr(stack, home, "watch").returncode == 2  # neither a job nor --batch
    cancelled = amr(stack, home, "batch", "cancel", batch_id)
    assert cancelled.returncode == 0 and cancelled.stdout.split("\t")[1] == "Finished"  # nothing left to cancel
    assert amr(stack, home, "batch", "delete", batch_id).returncode == 0
    gone = amr(stack, home, "batch", "show", batch_id)
    assert gone.returncode == 4 and "(not_found)" in gone.stderr
    assert amr(stack, home, "watch", "--batch", batch_id).returncode == 4


@needs_db
def test_logs_show_each_event_and_follow_ends_with_the_job(stack: Stack, home: Path) -> None:
    job_id = stack.shared["job"]["job_id"]
    events = stack.http("GET", f"/jobs/{job_id}/logs", token=stack.shared["token"]).body["events"]
    plain = amr(stack, home, "logs", job_id)
    assert plain.returncode == 0
    assert [line.split(None, 2)[2] for line in plain.stdout.splitlines()] == [e["message"] for e in events]
    lines = amr(stack, home, "logs", job_id, "--json").stdout.splitlines()
    assert [json.loads(line) for line in lines] == events
    started = time.monotonic()
    followed = amr(stack, home, "logs", job_id, "--follow")
    assert followed.returncode == 0 and followed.stdout == plain.stdout
    assert time.monotonic() - started < 30  # a finished job: no waiting


@needs_db
def test_a_job_that_fails_exits_1_with_its_error(stack: Stack, home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.fa"
    bad.write_text(">contig1\nACGT\nAC9T\n")
    done = amr(stack, home, "submit", str(bad), "--wait")
    assert done.returncode == 1, done.stderr
    (row,) = rows(done.stdout)
    assert row["status"] == "Error" and "line 3" in row["resistant_to"]
    watch = amr(stack, home, "watch", row["job"])
    assert watch.returncode == 1 and "Error" in watch.stdout


def test_cancel_show_watch_and_delete(stack: Stack, home: Path) -> None:
    created = stack.http("POST", "/jobs", {"job_name": "never uploaded"}, token=stack.shared["token"])
    job_id = created.body["job"]["job_id"]
    shown = amr(stack, home, "show", job_id)
    assert dict(line.split("\t", 1) for line in shown.stdout.splitlines())["status"] == "Submitted"

    cancelled = amr(stack, home, "cancel", job_id)
    assert cancelled.returncode == 0 and cancelled.stdout.split() == [job_id, "Cancelled"]
    assert json.loads(amr(stack, home, "show", job_id, "--json").stdout)["status"] == "Cancelled"
    assert amr(stack, home, "watch", job_id).returncode == 1  # ended Cancelled
    again = amr(stack, home, "cancel", job_id)
    assert again.returncode == 1 and "(conflict)" in again.stderr  # already terminal
    assert amr(stack, home, "results", job_id).returncode == 1  # no results for a Cancelled job

    deleted = amr(stack, home, "delete", job_id)
    assert deleted.returncode == 0
    gone = amr(stack, home, "show", job_id)
    assert gone.returncode == 4 and "(not_found)" in gone.stderr
    assert amr(stack, home, "delete", job_id).returncode == 4


def test_a_missing_file_creates_no_job(stack: Stack, home: Path, tmp_path: Path) -> None:
    before = stack.http("GET", "/jobs?limit=100", token=stack.shared["token"]).body["jobs"]
    done = amr(stack, home, "submit", str(tmp_path / "no-such-genome.fa"))
    assert done.returncode == 2
    assert "no-such-genome.fa does not exist" in done.stderr and "Nothing was submitted" in done.stderr
    assert stack.http("GET", "/jobs?limit=100", token=stack.shared["token"]).body["jobs"] == before


def test_admin_commands(stack: Stack, home: Path, tmp_path: Path) -> None:
    admin_home = tmp_path / "admin-config"
    assert amr(stack, admin_home, "login", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n").returncode == 0

    users = json.loads(amr(stack, admin_home, "admin", "users", "--json").stdout)["users"]
    carol = next(u for u in users if u["username"] == USER)
    listed = rows(amr(stack, admin_home, "admin", "users").stdout)
    assert {r["username"] for r in listed} == {u["username"] for u in users} >= {"admin", USER}

    off = amr(stack, admin_home, "admin", "user", USER, "--deactivate", "--json")
    assert off.returncode == 0 and json.loads(off.stdout)["is_active"] is False
    locked_out = amr(stack, home, "whoami")
    assert locked_out.returncode == 3 and "account_disabled" in locked_out.stderr
    on = amr(stack, admin_home, "admin", "user", carol["user_id"], "--activate")
    assert on.returncode == 0 and rows(on.stdout)[0]["state"] == "active"
    assert amr(stack, home, "whoami").returncode == 0
    assert amr(stack, admin_home, "admin", "user", "nobody-by-that-name").returncode == 4

    stats = json.loads(amr(stack, admin_home, "admin", "stats", "--json").stdout)
    assert stats["scope"] == "all"
    assert stats == stack.http("GET", "/stats?scope=all", token=stack.login("admin", ADMIN_PASSWORD)).body
    report = json.loads(amr(stack, admin_home, "admin", "maintenance", "--dry-run", "--task", "purge", "--json").stdout)
    assert report["dry_run"] is True and report["tasks"] == ["purge"]
    cleanup = amr(stack, admin_home, "admin", "cleanup", "--days", "30", "--json")
    assert cleanup.returncode == 0 and json.loads(cleanup.stdout)["count"] == 0  # nothing is 30 days old

    not_admin = amr(stack, home, "admin", "users")
    assert not_admin.returncode == 3 and "administrator" in not_admin.stderr


def test_an_expired_token_asks_to_log_in_again(stack: Stack, home: Path) -> None:
    secret = (stack.state_dir / "jwt-secret").read_text().strip()
    claims = jwt.decode(stack.shared["token"], options={"verify_signature": False})
    past = int(time.time()) - 7200
    expired = jwt.encode({**claims, "iat": past, "exp": past + 3600}, secret, algorithm="HS256")
    assert stack.http("GET", "/auth/me", token=expired).status == 401  # the service's verdict
    done = amr(stack, home, "jobs", env={"AMR_TOKEN": expired})
    assert done.returncode == 3
    assert "invalid or expired" in done.stderr and "amr login" in done.stderr and "Traceback" not in done.stderr

    stored = json.loads((home / "amr" / "credentials.json").read_text())
    stored[stack.api]["expires_at"] = "2020-01-01T00:00:00+00:00"
    (home / "amr" / "credentials.json").write_text(json.dumps(stored))
    local = amr(stack, home, "jobs")
    assert local.returncode == 3 and "expired at 2020-01-01" in local.stderr


def test_the_service_down_is_exit_5(stack: Stack, home: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    done = amr(stack, home, "--api", down, "jobs", env={"AMR_TOKEN": stack.shared["token"]})
    assert done.returncode == 5
    assert f"Cannot reach {down}" in done.stderr and "Traceback" not in done.stderr


def test_logout_forgets_the_login(stack: Stack, home: Path) -> None:
    assert amr(stack, home, "logout").returncode == 0
    assert stack.api not in json.loads((home / "amr" / "credentials.json").read_text())
    done = amr(stack, home, "whoami")
    assert done.returncode == 3 and "Not logged in" in done.stderr
