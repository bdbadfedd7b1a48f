"""The command-line client's own logic: arguments, pairing, parameters, exit statuses, the
stored login, polling, and the tables it derives — without a service (httpx's
MockTransport stands in where a request is made, and fails the test if one is not expected).
"""
from __future__ import annotations

import ast
import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from amrcli import config, inputs
from amrcli.api import Api
from amrcli.errors import CliError, Exit, exit_for_status
from amrcli.main import main
from amrcli.polling import MAX_UNAVAILABLE, Backoff, Poller, follow_logs, poll_jobs
from amrcli.views import phenotype_rows, resistant_antibiotics

ROOT = Path(__file__).resolve().parents[2]
API = "http://amr.test"


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config directory, no ambient token, and the fake service's URL."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(config.TOKEN_ENV, raising=False)
    monkeypatch.setenv(config.API_ENV, API)
    return tmp_path / "config"


def touch(directory: Path, *names: str) -> list[Path]:
    paths = []
    for name in names:
        path = directory / name
        path.write_text(">c\nACGT\n")
        paths.append(path)
    return paths


def no_requests(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected request {request.method} {request.url}")


def routes(table: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        handler = table.get((request.method, request.url.path))
        if handler is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no such route"}})
        return handler(request)

    return httpx.MockTransport(handle)


def logged_in(expires_in: int = 3600) -> None:
    config.save(API, "token-1", "alice", expires_in)


# --- samples and names -----------------------------------------------------------


def test_read_mates_pair_up_and_genomes_stay_single(tmp_path: Path) -> None:
    files = touch(
        tmp_path,
        "run42_R1.fastq.gz",
        "genome.fa",
        "run42_R2.fastq.gz",
        "iso_S1_L001_R2_001.fq",
        "iso_S1_L001_R1_001.fq",
        "x_1.fq",
        "x_2.fq",
        "asm_1.fasta",
        "asm_2.fasta",
    )
    samples = {s.name: [p.name for p in s.files] for s in inputs.group_samples(files)}
    assert samples == {
        "genome": ["genome.fa"],
        "asm_1": ["asm_1.fasta"],  # assemblies never pair, whatever their names
        "asm_2": ["asm_2.fasta"],
        "run42": ["run42_R1.fastq.gz", "run42_R2.fastq.gz"],  # R1 first, whatever the order given
        "iso_S1_L001": ["iso_S1_L001_R1_001.fq", "iso_S1_L001_R2_001.fq"],
        "x": ["x_1.fq", "x_2.fq"],
    }


def test_a_lone_mate_is_single_end_and_a_file_given_twice_counts_once(tmp_path: Path) -> None:
    (lone,) = touch(tmp_path, "s_R2.fq.gz")
    samples = inputs.group_samples([lone, tmp_path / "." / "s_R2.fq.gz"])
    assert [(s.name, len(s.files), s.paired) for s in samples] == [("s", 1, False)]


def test_two_files_for_one_mate_are_refused(tmp_path: Path) -> None:
    files = touch(tmp_path, "s_R1.fq", "s_1.fq")
    with pytest.raises(CliError) as caught:
        inputs.group_samples(files)
    assert caught.value.exit_code == Exit.USAGE and "both mate 1 of sample s" in caught.value.message


@pytest.mark.parametrize(
    ("name", "problem"),
    [("missing.fa", "does not exist"), ("notes.txt", "not a genome or reads file"), ("dir.fa", "is not a file")],
)
def test_bad_inputs_stop_before_anything_is_sent(tmp_path: Path, name: str, problem: str) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "dir.fa").mkdir()
    with pytest.raises(CliError) as caught:
        inputs.group_samples([tmp_path / name])
    assert caught.value.exit_code == Exit.USAGE and problem in caught.value.message
    assert "Nothing was submitted" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("genome.fa", "genome.fa"),
        ("Ward 7 (isolate).FASTA.GZ", "Ward_7_isolate_.fasta.gz"),
        (".hidden.fq", "hidden.fq"),
        ("é.fna", "_.fna"),
        ("a" * 200 + ".fastq.gz", "a" * 119 + ".fastq.gz"),
    ],
)
def test_service_filenames_keep_the_suffix_in_the_key_alphabet(filename: str, expected: str) -> None:
    result = inputs.service_filename(Path(filename))
    assert result == expected and len(result) <= 128


def test_job_names_come_from_the_sample_or_the_name_given(tmp_path: Path) -> None:
    sample = inputs.Sample("run42", (tmp_path / "run42_R1.fq",))
    assert inputs.job_name(sample, None, 3) == "run42"
    assert inputs.job_name(sample, "Ward 7", 1) == "Ward 7"
    assert inputs.job_name(sample, "Ward 7", 3) == "Ward 7 run42"
    assert len(inputs.job_name(sample, "x" * 300, 1)) == inputs.MAX_NAME


def test_params_become_json_values_and_species_joins_them() -> None:
    params = inputs.parse_params(
        ["min_identity=0.95", "batch_size=32", "use_cpu=False", "model_name=resfinder", "segment_overlap=1e3"],
        species="escherichia_coli",
    )
    assert params == {
        "min_identity": 0.95,
        "batch_size": 32,
        "use_cpu": False,
        "model_name": "resfinder",
        "segment_overlap": 1000.0,
        "species": "escherichia_coli",
    }
    for bad in ("min_identity", "=3", ""):
        with pytest.raises(CliError) as caught:
            inputs.parse_params([bad])
        assert caught.value.exit_code == Exit.USAGE


# --- exit statuses and errors ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "validation_error", Exit.USAGE),
        (401, "unauthorized", Exit.AUTH),
        (403, "account_disabled", Exit.AUTH),
        (404, "not_found", Exit.NOT_FOUND),
        (409, "conflict", Exit.JOB_FAILED),
        (415, "unsupported_media_type", Exit.USAGE),
        (429, "too_many_requests", Exit.AUTH),
        (429, "", Exit.UNAVAILABLE),  # API Gateway throttling
        (500, "internal_error", Exit.UNAVAILABLE),
        (503, "storage_unavailable", Exit.UNAVAILABLE),
    ],
)
def test_http_statuses_map_to_the_documented_exit_statuses(status: int, code: str, expected: Exit) -> None:
    assert exit_for_status(status, code) == expected


def test_usage_errors_exit_2_before_any_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logged_in()
    (genome,) = touch(tmp_path, "g.fa")
    transport = httpx.MockTransport(no_requests)
    assert main(["jobs", "--status", "Done"], transport) == Exit.USAGE
    assert main(["jobs", "--limit", "0"], transport) == Exit.USAGE
    assert main(["submit"], transport) == Exit.USAGE
    assert main(["submit", str(genome), "--param", "oops"], transport) == Exit.USAGE
    assert main(["submit", str(tmp_path / "absent.fa")], transport) == Exit.USAGE
    assert main(["results", "j", "--format", "xml"], transport) == Exit.USAGE
    assert main(["--api", "ftp://example.org", "jobs"], transport) == Exit.USAGE
    assert main(["admin", "maintenance", "--task", "everything"], transport) == Exit.USAGE
    assert main(["watch"], transport) == Exit.USAGE
    assert main(["watch", "j", "--batch", "b"], transport) == Exit.USAGE
    assert main(["batch", "matrix", "b", "--format", "xlsx"], transport) == Exit.USAGE
    assert main(["batch", "show"], transport) == Exit.USAGE
    err = capsys.readouterr().err
    assert "absent.fa does not exist" in err and "Traceback" not in err


def test_service_errors_show_message_code_and_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    logged_in()
    answers = {
        ("GET", "/jobs/gone"): lambda r: httpx.Response(
            404, json={"error": {"code": "not_found", "message": "Job not found"}}
        ),
        ("GET", "/auth/me"): lambda r: httpx.Response(
            401, json={"error": {"code": "unauthorized", "message": "The access token is invalid or expired"}}
        ),
        ("GET", "/jobs"): lambda r: httpx.Response(
            503, json={"error": {"code": "storage_unavailable", "message": "Storage is unreachable"}}
        ),
        ("POST", "/jobs/done/cancel"): lambda r: httpx.Response(
            409, json={"error": {"code": "conflict", "message": "Job is already Completed"}}
        ),
    }
    transport = routes(answers)
    assert main(["show", "gone"], transport) == Exit.NOT_FOUND
    assert main(["whoami"], transport) == Exit.AUTH
    assert main(["jobs"], transport) == Exit.UNAVAILABLE
    assert main(["cancel", "done"], transport) == Exit.JOB_FAILED
    err = capsys.readouterr().err
    assert "error: Job not found (not_found)" in err
    assert "The access token is invalid or expired (unauthorized)" in err and "amr login" in err
    assert "Storage is unreachable (storage_unavailable)" in err
    assert "Job is already Completed (conflict)" in err


def test_an_unreachable_service_is_exit_5_with_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    logged_in()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    assert main(["--api", API, "jobs"], httpx.MockTransport(refuse)) == Exit.UNAVAILABLE
    err = capsys.readouterr().err
    assert f"Cannot reach {API}" in err and "make run" in err


def test_job_ids_stay_one_path_segment_and_odd_answers_are_no_trace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logged_in()
    paths: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"not": "a job"})

    monkeypatch.delenv("AMR_DEBUG", raising=False)
    assert main(["show", "../auth/me"], httpx.MockTransport(handle)) == Exit.UNAVAILABLE
    assert main(["cancel", ".."], httpx.MockTransport(handle)) == Exit.UNAVAILABLE
    assert paths == ["/jobs/..%2Fauth%2Fme", "/jobs/%2E%2E/cancel"]
    err = capsys.readouterr().err
    assert "Unexpected answer from" in err and "Traceback" not in err


def test_a_failed_upload_cancels_its_job_and_the_others_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """S3 refuses one file (XML error); its job is cancelled and named, the other is listed."""
    logged_in()
    good, bad = touch(tmp_path, "good.fa", "bad.fa")
    cancelled: list[str] = []
    posted: dict[str, bytes] = {}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jobs":
            name = json.loads(request.content)["job_name"]
            job = {"job_id": f"id-{name}", "job_name": name, "status": "Submitted", "progress": 0}
            upload = {"url": f"http://s3.test/bucket/{name}", "fields": {"key": f"uploads/u/id-{name}/x.fa"},
                      "expires_in": 3600, "max_bytes": 1000}
            return httpx.Response(201, json={"job": job, "upload": upload})
        if request.url.host == "s3.test":
            assert "authorization" not in request.headers  # the bearer token never goes to S3
            posted[request.url.path] = request.read()
            if request.url.path.endswith("/bad"):
                return httpx.Response(403, content=b"<Error><Code>AccessDenied</Code><Message>Policy expired</Message></Error>")
            return httpx.Response(204)
        if request.url.path.endswith("/cancel"):
            cancelled.append(request.url.path.split("/")[2])
            return httpx.Response(202, json={"job_id": "id-bad", "status": "Cancelled"})
        raise AssertionError(request.url)

    code = main(["submit", str(good), str(bad)], httpx.MockTransport(handle))
    out, err = capsys.readouterr()
    assert code == Exit.AUTH and cancelled == ["id-bad"]
    body = posted["/bucket/good"]
    assert body.index(b'name="key"') < body.index(b'name="file"; filename="good.fa"')  # the file goes last
    assert body.count(b">c\nACGT\n") == 1
    assert "Policy expired (AccessDenied)" in err and "cancelled id-bad (bad)" in err
    assert rows_of(out) == [["job", "name", "status", "files"], ["id-good", "good", "Submitted", "good.fa"]]


def rows_of(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines()]


# --- the stored login ------------------------------------------------------------------


def test_login_is_stored_0600_per_service_url(config_home: Path) -> None:
    config.save(API + "/", "token-a", "alice", 3600)
    config.save("http://other.test", "token-b", "bob", 3600)
    path = config.credentials_path()
    assert path.parent == config_home / "amr"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    first = config.load(API)
    assert first is not None and (first.token, first.username) == ("token-a", "alice") and not first.expired()
    assert config.forget(API) and not config.forget(API)
    assert config.load(API) is None and config.load("http://other.test").token == "token-b"  # type: ignore[union-attr]


def test_amr_token_wins_and_is_never_written(monkeypatch: pytest.MonkeyPatch) -> None:
    logged_in()
    monkeypatch.setenv(config.TOKEN_ENV, "from-the-environment")
    creds = config.load(API)
    assert creds is not None and creds.token == "from-the-environment" and not creds.expired()
    assert "from-the-environment" not in config.credentials_path().read_text()


def test_an_expired_login_asks_to_log_in_again_without_a_request(capsys: pytest.CaptureFixture[str]) -> None:
    config.save(API, "old-token", "alice", -60)
    assert main(["--api", API, "jobs"], httpx.MockTransport(no_requests)) == Exit.AUTH
    err = capsys.readouterr().err
    assert "expired" in err and "amr login" in err and "Traceback" not in err


def test_not_logged_in_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--api", API, "whoami"], httpx.MockTransport(no_requests)) == Exit.AUTH
    assert "Not logged in" in capsys.readouterr().err


def test_login_saves_the_token_and_a_wrong_password_keeps_the_old_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[dict[str, Any]] = []

    def login(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        if body["password"] != "right-password":
            return httpx.Response(401, json={"error": {"code": "unauthorized", "message": "Invalid username or password"}})
        return httpx.Response(200, json={"access_token": "fresh", "token_type": "bearer", "expires_in": 3600})

    transport = routes({("POST", "/auth/login"): login})
    monkeypatch.setattr("sys.stdin", _Stdin("right-password\n"))
    assert main(["--api", API, "login", "alice", "--password-stdin"], transport) == Exit.OK
    assert config.load(API).token == "fresh"  # type: ignore[union-attr]
    monkeypatch.setattr("sys.stdin", _Stdin("wrong\n"))
    assert main(["--api", API, "login", "alice", "--password-stdin"], transport) == Exit.AUTH
    assert config.load(API).token == "fresh"  # type: ignore[union-attr]
    assert seen == [{"username": "alice", "password": "right-password"}, {"username": "alice", "password": "wrong"}]
    assert "Wrong username or password" in capsys.readouterr().err


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def readline(self) -> str:
        line, _, self.text = self.text.partition("\n")
        return line + "\n"


# --- polling ----------------------------------------------------------------------------


def test_backoff_grows_to_its_cap_and_restarts_on_change() -> None:
    backoff = Backoff(initial=1.0, factor=2.0, maximum=5.0)
    assert [backoff.next(False) for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.next(True) == 1.0 and backoff.next(False) == 2.0


def _jobs_transport(script: dict[str, list[Any]]) -> tuple[httpx.MockTransport, list[str]]:
    """Each GET /jobs/{id} answers the next item of its script (a job dict or a status code)."""
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        job_id = request.url.path.rsplit("/", 1)[-1]
        calls.append(job_id)
        answer = script[job_id].pop(0) if len(script[job_id]) > 1 else script[job_id][0]
        if isinstance(answer, int):
            return httpx.Response(answer, json={"error": {"code": "storage_unavailable", "message": "busy"}},
                                  headers={"Retry-After": "7"})
        return httpx.Response(200, json=answer)

    return httpx.MockTransport(handle), calls


def _job(job_id: str, status: str, progress: float = 0) -> dict[str, Any]:
    return {"job_id": job_id, "job_name": job_id, "status": status, "progress": progress}


def test_polling_stops_at_terminal_statuses_and_backs_off_while_nothing_changes() -> None:
    transport, calls = _jobs_transport(
        {
            "a": [_job("a", "Submitted"), _job("a", "Submitted"), _job("a", "Running", 50), _job("a", "Completed", 100)],
            "b": [_job("b", "Error", 10)],
        }
    )
    waits: list[float] = []
    updates: list[tuple[str, str]] = []
    final = poll_jobs(
        Api(API, "t", transport), ["a", "b"], lambda j: updates.append((j["job_id"], j["status"])), Poller(waits.append)
    )
    assert {k: v["status"] for k, v in final.items()} == {"a": "Completed", "b": "Error"}
    assert calls == ["a", "b", "a", "a", "a"]  # a terminal job is not asked again
    assert updates == [("a", "Submitted"), ("b", "Error"), ("a", "Running"), ("a", "Completed")]
    assert waits == [1.0, 1.5, 1.0]  # grew while nothing changed, reset on change, none after the end


def test_polling_rides_out_short_outages_honouring_retry_after_but_not_long_ones() -> None:
    transport, _ = _jobs_transport({"a": [503, 503, _job("a", "Completed", 100)]})
    waits: list[float] = []
    final = poll_jobs(Api(API, "t", transport), ["a"], lambda j: None, Poller(waits.append))
    assert final["a"]["status"] == "Completed" and waits == [7.0, 7.0]

    transport, calls = _jobs_transport({"a": [503]})
    with pytest.raises(CliError) as caught:
        poll_jobs(Api(API, "t", transport), ["a"], lambda j: None, Poller(lambda s: None))
    assert caught.value.exit_code == Exit.UNAVAILABLE and len(calls) == MAX_UNAVAILABLE

    transport, calls = _jobs_transport({"a": [404]})
    with pytest.raises(CliError) as caught:  # not transient: no retry
        poll_jobs(Api(API, "t", transport), ["a"], lambda j: None, Poller(lambda s: None))
    assert len(calls) == 1


def test_following_logs_reads_each_event_once_across_pages_until_the_job_ends() -> None:
    """Events appear over time; pages of 2; the last page is re-read with its own token."""
    events = [{"timestamp": f"t{i}", "level": "INFO", "message": f"m{i}"} for i in range(5)]
    visible = [2]  # events written so far
    statuses = iter(["Running", "Running", "Completed"])
    pages: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/logs"):
            token = request.url.params.get("next_token")
            pages.append(token)
            start = int(token or 0)
            page = events[start : min(start + 2, visible[0])]
            more = start + 2 if start + 2 <= visible[0] and start + 2 < len(events) else None
            return httpx.Response(200, json={"events": page, "next_token": str(more) if more else None})
        status = next(statuses)
        visible[0] = {"Running": min(len(events), visible[0] + 2), "Completed": len(events)}[status]
        return httpx.Response(200, json=_job("j", status))

    emitted: list[str] = []
    job = follow_logs(Api(API, "t", httpx.MockTransport(handle)), "j", lambda e: emitted.append(e["message"]), True,
                      Poller(lambda s: None))
    assert emitted == ["m0", "m1", "m2", "m3", "m4"]
    assert job is not None and job["status"] == "Completed"
    assert pages[0] is None and pages.count(None) <= 2  # the first page is not re-read once it is full


# --- tables -------------------------------------------------------------------------------


def test_phenotype_rows_put_resistant_first_and_fall_back_to_the_gene_profile() -> None:
    table = {
        "phenotypes": [
            {"antimicrobial": "ampicillin", "class": "beta-lactam", "phenotype": "No resistance", "match": 0,
             "genes": [], "mutations": []},
            {"antimicrobial": "ciprofloxacin", "class": "quinolone", "phenotype": "Resistant", "match": 3,
             "genes": [], "mutations": ["gyrA p.S83L"]},
            {"antimicrobial": "amikacin", "class": "aminoglycoside", "phenotype": "Resistant", "match": 2,
             "genes": ["aac(6')-Ib"], "mutations": []},
        ]
    }
    rows = phenotype_rows(table)
    assert [(r["antimicrobial"], r["phenotype"], r["determinants"]) for r in rows] == [
        ("amikacin", "Resistant", ["aac(6')-Ib"]),
        ("ciprofloxacin", "Resistant", ["gyrA p.S83L"]),
        ("ampicillin", "No resistance", []),
    ]
    profile = {
        "genes": [
            {"gene": "blaB-2", "drug_class": "Beta-lactam", "phenotypes": ["Ampicillin", "Amoxicillin"]},
            {"gene": "blaTEM-1B", "drug_class": "Beta-lactam", "phenotypes": ["Ampicillin"]},
        ],
        "resistance": {"Beta-lactam": ["Ampicillin", "Amoxicillin"]},
    }
    assert [(r["antimicrobial"], r["determinants"]) for r in phenotype_rows(profile)] == [
        ("Amoxicillin", ["blaB-2"]),
        ("Ampicillin", ["blaB-2", "blaTEM-1B"]),
    ]


def test_resistant_antibiotics_prefer_the_summary_list() -> None:
    assert resistant_antibiotics({"summary": {"resistant": ["ciprofloxacin"], "resistance": {"X": ["y"]}}}) == [
        "ciprofloxacin"
    ]
    profile = {"summary": {"resistance": {"C": ["ampicillin"], "B": ["ticarcillin", "Ampicillin"]}}}
    assert resistant_antibiotics(profile) == ["ampicillin", "ticarcillin"]  # once each, the first spelling met
    assert resistant_antibiotics({"summary": None}) == []


# --- packaging ------------------------------------------------------------------------------


def test_the_client_does_not_import_the_service() -> None:
    """`pip install .` ships amrcli alone: an import of chalicelib or local would break it."""
    for path in sorted((ROOT / "amrcli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            for name in names:
                assert name.split(".")[0] not in {"chalicelib", "local", "app", "tests"}, (path.name, name)


def test_the_amr_console_script_is_installed_in_the_virtualenv() -> None:
    (entry,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "amr"]
    assert entry.value == "amrcli.main:main"
    script = Path(sys.executable).parent / "amr"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0 and done.stdout.startswith("amr ")


def test_timestamps_in_the_store_are_timezone_aware() -> None:
    creds = config.Credentials("t", "u", (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat())
    assert creds.expired() and not config.Credentials("t").expired()


# --- asynchronous maintenance runs --------------------------------------------------------


def test_admin_maintenance_follows_the_queued_run_until_it_finishes() -> None:
    from amrcli.admin import wait_for_run

    states = iter(["queued", "running", "finished"])
    seen: list[str] = []

    def run(request: httpx.Request) -> httpx.Response:
        status = next(states)
        seen.append(status)
        report = {"dry_run": True, "tasks": ["purge"], "purged": []} if status == "finished" else None
        return httpx.Response(200, json={"run_id": "r1", "status": status, "report": report, "error": None})

    api = Api(API, "t", routes({("GET", "/admin/maintenance/r1"): run}))
    done = wait_for_run(api, {"run_id": "r1", "status": "queued", "location": "/admin/maintenance/r1"},
                        Poller(lambda s: None))
    assert seen == ["queued", "running", "finished"]
    assert done["report"] == {"dry_run": True, "tasks": ["purge"], "purged": []}


def test_admin_maintenance_failed_run_is_an_error_not_a_report(capsys: pytest.CaptureFixture[str]) -> None:
    logged_in()
    transport = routes({
        ("POST", "/admin/maintenance"): lambda r: httpx.Response(
            202, json={"run_id": "r2", "status": "queued", "location": "/admin/maintenance/r2"}),
        ("GET", "/admin/maintenance/r2"): lambda r: httpx.Response(
            200, json={"run_id": "r2", "status": "failed", "report": None, "error": "storage unavailable"}),
    })
    assert main(["--api", API, "admin", "maintenance"], transport) == Exit.UNAVAILABLE
    assert "maintenance run r2 failed: storage unavailable" in capsys.readouterr().err


def test_submit_batch_sends_one_request_with_every_sample_and_its_mate(tmp_path: Path) -> None:
    logged_in()
    files = touch(tmp_path, "s1_R1.fastq", "s1_R2.fastq", "s2.fa")
    sent: list[dict[str, Any]] = []

    def create(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        jobs = [{"job": {"job_id": f"j{i}", "job_name": s["name"], "status": "Submitted", "batch_id": "b1"},
                 "upload": {"url": "http://s3.test/up", "fields": {"key": s["filename"]}},
                 **({"mate_upload": {"url": "http://s3.test/up", "fields": {"key": s["mate_filename"]}}}
                    if "mate_filename" in s else {})}
                for i, s in enumerate(body["samples"])]
        return httpx.Response(201, json={"batch": {"batch_id": "b1", "batch_name": body["batch_name"]}, "jobs": jobs})

    uploaded: list[str] = []

    def upload(request: httpx.Request) -> httpx.Response:
        uploaded.append(request.url.path)
        return httpx.Response(204)

    transport = routes({("POST", "/batches"): create, ("POST", "/up"): upload})
    assert main(["submit", *map(str, files), "--batch", "run 9", "--species", "klebsiella", "--json"], transport) == 0
    (body,) = sent
    assert body["batch_name"] == "run 9" and body["params"] == {"species": "klebsiella"}
    assert sorted(body["samples"], key=lambda s: s["name"]) == [
        {"name": "s1", "filename": "s1_R1.fastq", "mate_filename": "s1_R2.fastq"},
        {"name": "s2", "filename": "s2.fa"},
    ]
    assert len(uploaded) == 3  # both mates and the genome
