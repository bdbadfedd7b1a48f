"""Does `POST /auth/password-reset` take longer when the address has an account?

Times many requests for an existing and for an unknown address, interleaved, through the
Chalice test client on in-process moto, and prints the medians and their ratio. For
comparison it times the work the request used to do inline (look the address up, store
a token, send the email through SES), which now runs in the `send_password_reset`
function after the 202. A ratio near 1.00 means the response says nothing about the
address; the inline work shows the gap the queue removed.

    .venv/bin/python bench/reset_timing.py [--requests N]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import time
from datetime import datetime, timezone
from typing import Callable

import benchenv  # noqa: F401  (must precede chalicelib imports)

from moto import mock_aws  # noqa: E402

from chalicelib.accounts import auth, users  # noqa: E402
from chalicelib.core import aws, clock, tables as models  # noqa: E402
from chalicelib.core.settings import get_settings  # noqa: E402
from local.invoker import ensure_queue  # noqa: E402

KNOWN, UNKNOWN = "known@example.org", "unknown@example.org"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def interleaved(requests: int, known: Callable[[], object], unknown: Callable[[], object],
                fake: clock.FakeClock) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {KNOWN: [], UNKNOWN: []}
    for _ in range(requests):
        fake.advance(seconds=61)  # past the re-request guard: every known request sends mail
        times[KNOWN].append(timed(known))
        times[UNKNOWN].append(timed(unknown))
    return times


def row(label: str, times: dict[str, list[float]]) -> str:
    k, u = statistics.median(times[KNOWN]), statistics.median(times[UNKNOWN])
    return f"{label:<34}{k:>10.2f}{u:>10.2f}{k / u:>8.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    fake = clock.FakeClock(datetime(2026, 11, 24, 12, tzinfo=timezone.utc))
    clock.set_clock(fake)
    with mock_aws(), contextlib.redirect_stdout(io.StringIO()):
        from chalice.test import Client

        from app import app

        aws.reset_clients()
        models.bind_models(get_settings())
        models.create_tables()
        sqs = aws.client("sqs")
        url = ensure_queue(sqs, get_settings().async_queue)
        aws.client("ses").verify_email_identity(EmailAddress=get_settings().mail_sender)
        users.create_user(username="known", email=KNOWN, password="correct-horse-1")
        headers = {"Content-Type": "application/json"}
        with Client(app, stage_name="local") as client:

            def post(address: str) -> Callable[[], object]:
                body = json.dumps({"email": address})
                return lambda: client.http.post("/auth/password-reset", headers=headers, body=body)

            for _ in range(10):  # warm-up: lazy imports, clients
                post(KNOWN)()
                post(UNKNOWN)()
            api = interleaved(args.requests, post(KNOWN), post(UNKNOWN), fake)
            sqs.purge_queue(QueueUrl=url)
            inline = interleaved(args.requests, lambda: auth.request_password_reset(KNOWN),
                                 lambda: auth.request_password_reset(UNKNOWN), fake)
    clock.set_clock(None)
    print(f"{args.requests} requests per address, interleaved; medians in ms (moto in-process, shared machine)")
    print(f"{'':<34}{'known':>10}{'unknown':>10}{'ratio':>8}")
    print(row("POST /auth/password-reset (now)", api))
    print(row("inline reset work (before)", inline))


if __name__ == "__main__":
    main()
