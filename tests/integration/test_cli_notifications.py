"""`amr account notifications` (design §22) against the real service on moto: the CLI's
requests go through an httpx transport into Chalice's test client."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from amrcli import config
from amrcli.errors import Exit
from amrcli.main import main
from chalicelib.jobs import lifecycle as jobs
from local.receiver import Receiver
from tests.integration.test_notifications import new_job, verified_sender  # noqa: F401  (fixture)

API = "http://amr.test"


@pytest.fixture
def cli(client: Any, make_user: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `amr ...` logged in as a fresh user; returns (exit status, stdout, stderr)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv(config.API_ENV, API)
    _, headers = make_user("carol")
    monkeypatch.setenv(config.TOKEN_ENV, headers["Authorization"].split()[1])

    def forward(request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        answer = client.http.request(
            request.method, path, headers=dict(request.headers), body=request.content or b""
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.body)

    transport = httpx.MockTransport(forward)

    def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
        status = main(list(args), transport)
        out, err = capsys.readouterr()
        # The in-process service prints its metrics (one JSON line each) to the same stdout.
        out = "".join(line for line in out.splitlines(keepends=True) if not line.startswith('{"_aws"'))
        return status, out, err

    return run


def test_set_changes_only_what_it_names_and_shows_the_secret_once(
    cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = cli("account", "notifications", capsys=capsys)
    assert status == Exit.OK and "webhook\toff" in out and "email\toff" in out

    status, out, err = cli(
        "account", "notifications", "set", "--webhook", "http://127.0.0.1:9/hook", "--event", "job.completed",
        capsys=capsys,
    )  # fmt: skip
    assert status == Exit.OK
    assert "webhook\thttp://127.0.0.1:9/hook" in out and "events\tjob.completed" in out
    secret = err.split("store it now): ")[1].split()[0]
    assert len(secret) >= 32 and secret[-4:] in out  # the hint is the secret's tail

    status, out, err = cli("account", "notifications", "set", "--email", capsys=capsys)
    assert status == Exit.OK and "email\ton (batch.finished)" in out
    assert "webhook\thttp://127.0.0.1:9/hook" in out and "events\tjob.completed" in out  # kept
    assert secret not in out + err  # shown once only

    status, out, err = cli("account", "notifications", "rotate-secret", capsys=capsys)
    fresh = err.split("store it now): ")[1].split()[0]
    assert status == Exit.OK and fresh != secret
    assert "previous secret valid until" in out

    status, out, _ = cli("account", "notifications", "set", "--no-webhook", "--no-email", "--json", capsys=capsys)
    settings = json.loads(out)
    assert status == Exit.OK and settings["webhook_url"] is None and settings["email"] is False


def test_refused_urls_and_contradictions_are_usage_errors(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli("account", "notifications", "set", "--webhook", "https://10.1.2.3/hook", capsys=capsys)
    assert status == Exit.USAGE and "private" in err
    status, _, err = cli("account", "notifications", "set", "--event", "job.started", capsys=capsys)
    assert status == Exit.USAGE and "Unknown event job.started" in err
    status, _, err = cli("account", "notifications", "set", capsys=capsys)
    assert status == Exit.USAGE and "Nothing to change" in err
    status, _, err = cli("account", "notifications", "rotate-secret", capsys=capsys)
    assert status == Exit.NOT_FOUND and "PUT /account/notifications first" in err


def test_deliveries_show_status_code_and_next_attempt(
    cli: Any, client: Any, run_notifications: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = cli("account", "notifications", "deliveries", "--json", capsys=capsys)
    assert status == Exit.OK and json.loads(out) == []
    with Receiver(statuses=[503]) as receiver:
        assert cli("account", "notifications", "set", "--webhook", receiver.url, capsys=capsys)[0] == Exit.OK
        headers = {"Authorization": f"Bearer {os.environ[config.TOKEN_ENV]}", "Content-Type": "application/json"}
        job_id = new_job(client, headers)
        jobs.transition(job_id, jobs.RUNNING)
        jobs.transition(job_id, jobs.ERROR, error="Input is not FASTA (line 1)")
        run_notifications()  # attempt 1: 503, retried later
    status, out, _ = cli("account", "notifications", "deliveries", capsys=capsys)
    header, row = out.strip().splitlines()
    cells = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert status == Exit.OK and cells["event"] == "job.failed" and cells["channel"] == "webhook"
    assert cells["target"] == receiver.url and cells["status"] == "retrying" and cells["attempts"] == "1"
    assert cells["last_answer"] == "503" and cells["next_attempt"] > cells["created"]
    (delivery,) = json.loads(cli("account", "notifications", "deliveries", "--json", capsys=capsys)[1])
    assert cells["event_id"] == delivery["event_id"] == json.loads(receiver.received[0].body)["id"]
