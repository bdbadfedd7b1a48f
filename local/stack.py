"""`python -m local.stack` (`make run`): the whole service locally, in the foreground.

Start order matters: the emulator first; then the app's environment and import; then
tables, buckets and the restore of the last snapshot, all before the upload-bucket event
wiring (so restored objects do not fire events again) and before any request is served.
Ctrl-C or SIGTERM stops serving, drains running event handlers, writes a final snapshot,
frees both ports and exits 0. A second Ctrl-C skips the drain.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import sys
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any, TextIO

from local import config as stack_config
from local.config import StackConfig
from local.emulator import Emulator
from local.files import atomic_write_json

log = logging.getLogger("local.stack")
LOCK_FILE = ".lock"


class StartupError(Exception):
    """A problem the user must fix (busy port, state dir in use): a message, not a trace."""


def _lock_state_dir(cfg: StackConfig, stack: ExitStack) -> None:
    """One stack per state directory: two would overwrite each other's snapshots."""
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(cfg.state_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StartupError(f"another local stack is using {cfg.state_dir}; stop it first") from None
    stack.callback(handle.close)


def _ensure_buckets(s3: Any, buckets: list[str]) -> None:
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)


def browser_origins(api_port: int) -> list[str]:
    """Origins the web app is served from locally (`http://127.0.0.1:PORT/` and its alias)."""
    return [f"http://127.0.0.1:{api_port}", f"http://localhost:{api_port}"]


def allow_browser_uploads(s3: Any, bucket: str, api_port: int) -> None:
    """The upload bucket's CORS rules, as `infra/` gives the deployed one: the web app's
    origin may POST files with presigned POSTs (and read the answer)."""
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": browser_origins(api_port),
                    "AllowedMethods": ["POST"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag", "Location"],
                    "MaxAgeSeconds": 3000,
                }
            ]
        },
    )


def _bootstrap_admin(cfg: StackConfig) -> tuple[str, str | None, bool] | None:
    """Create the admin account if the app has accounts; returns (name, shown password, created)."""
    try:
        from chalicelib.accounts import users
    except ImportError:
        return None
    bootstrap = getattr(users, "bootstrap_admin", None)
    if bootstrap is None:
        return None
    generated = cfg.admin_password is None
    password = cfg.admin_password or _generate_password()
    _user, created = bootstrap(cfg.admin_username, password, email=cfg.admin_email)
    return cfg.admin_username, (password if generated and created else None), bool(created)


def _generate_password() -> str:
    import secrets

    return secrets.token_urlsafe(18)


def _install_signals(stop: threading.Event, hurry: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set():
            hurry.set()
            log.warning("second %s: not waiting for running handlers", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


class LocalStack:
    """The running pieces, started in dependency order and stopped in reverse."""

    def __init__(self, cfg: StackConfig, exits: ExitStack) -> None:
        self.cfg = cfg
        self.exits = exits

    def start_emulator(self) -> None:
        self.emulator = Emulator(self.cfg.host, self.cfg.emulator_port)
        try:
            self.emulator.start()
        except OSError as exc:
            raise StartupError(f"cannot listen on {self.emulator.url} (EMULATOR_PORT): {exc.strerror}") from None
        self.exits.callback(self.emulator.stop)

    def load_app(self) -> None:
        """Import the app (only now: it binds to the emulator) and bind the API port."""
        from chalicelib.core.settings import get_settings
        from local.appload import load_app
        from local.gateway import create_server

        self.app, chalice_config = load_app()
        self.settings = get_settings()
        self._enforce_iam()
        try:
            self.server = create_server(self.app, chalice_config, self.cfg.host, self.cfg.api_port)
        except OSError as exc:
            raise StartupError(f"cannot listen on {self.cfg.api_url} (API_PORT): {exc.strerror}") from None
        self.exits.callback(self.server.server.server_close)

    def _enforce_iam(self) -> None:
        """Every function's AWS calls checked against its role's policy, as AWS does (design §23)."""
        from local.iam import Guard, guard_app

        guard = Guard(self.settings)
        guard.install()
        self.exits.callback(guard.uninstall)
        self.exits.callback(guard_app(self.app))

    def prepare_storage(self) -> None:
        """Tables and buckets, then the last snapshot, before any event wiring."""
        from chalicelib.core import aws
        from chalicelib.core import tables as models
        from local import discovery
        from local.state import StateStore

        self.sources = discovery.s3_sources(self.app)
        service = [self.settings.upload_bucket, self.settings.results_bucket, self.settings.archive_bucket]
        buckets = service + sorted({s.bucket for s in self.sources} - set(service))
        models.create_tables()
        _ensure_buckets(aws.client("s3"), buckets)
        self.tables = [getattr(self.settings, field) for field in models.TABLES]
        self.store = StateStore(
            self.cfg.state_dir,
            aws.client("dynamodb"),
            aws.client("s3"),
            self.tables,
            buckets,
            self.emulator.tracker,
            deliveries=lambda: self.bridge.deliveries() if hasattr(self, "bridge") else {},
        )
        self.restored = self.store.restore()
        allow_browser_uploads(aws.client("s3"), self.settings.upload_bucket, self.cfg.api_port)

    def wire_events(self) -> None:
        """Queues and bucket notifications; replay events the last run did not confirm."""
        from chalicelib.core import aws
        from local.bridge import EventBridge

        self.bridge = EventBridge(
            self.app,
            aws.client("sqs"),
            aws.client("s3"),
            self.sources,
            f"amr-{self.settings.stage}",
            self.cfg.max_receives,
            self.cfg.bridge_workers,
            delivered=self.restored.delivered,
        )
        self.bridge.wire()
        self.redelivered = self.bridge.redeliver(self.restored.undelivered)
        self._wire_invocations()
        self._wire_notifications()

    def _wire_invocations(self) -> None:
        """The queue standing in for Lambda's asynchronous invocations, and its workers."""
        from chalicelib.core import aws
        from local.invoker import AsyncInvoker, ensure_queue

        sqs = aws.client("sqs")
        self.invoker = AsyncInvoker(self.app, sqs, ensure_queue(sqs, self.settings.async_queue))

    def _wire_notifications(self) -> None:
        """Table streams into the notifier, its delivery queue (with a dead-letter queue)
        into the delivery handler, and the mail sender verified in the emulator's SES."""
        from chalicelib.core import aws
        from local.notify import NotificationQueue
        from local.streams import StreamPump, streams_client

        self.streams = StreamPump(self.app, aws.client("dynamodb"), streams_client(self.cfg.emulator_url))
        self.streams.prime()
        self.notify_queue = NotificationQueue(self.app, aws.client("sqs"), self.settings.notifications_queue)
        self.notify_queue.wire()
        aws.client("ses").verify_email_identity(EmailAddress=self.settings.mail_sender)

    def plan_schedules(self) -> None:
        from local import discovery
        from local.scheduler import Scheduler

        self.schedules = discovery.schedules(self.app)
        self.scheduler = Scheduler(self.schedules, self.cfg.state_dir, self._run_schedule)

    def _run_schedule(self, schedule: Any) -> None:
        from local import discovery
        from local.scheduler import scheduled_event

        started = time.monotonic()
        try:
            result = discovery.invoke(self.app, schedule.name, scheduled_event(self.app.app_name, schedule.name))
            log.info("schedule %s done in %.2f s: %s", schedule.name, time.monotonic() - started, result)
        except Exception:
            log.exception("schedule %s failed", schedule.name)

    def serve(self) -> None:
        """Start the workers, then the API; leave a note for `local.run_schedule`."""
        self.bridge.start()
        self.invoker.start()
        self.streams.start()
        self.notify_queue.start()
        if self.cfg.scheduler_enabled:
            self.scheduler.start()
        self.store.start(self.cfg.snapshot_seconds)
        self.api_thread = threading.Thread(target=self.server.server.serve_forever, name="api", daemon=True)
        self.api_thread.start()
        runtime = {
            "pid": os.getpid(),
            "api_url": self.cfg.api_url,
            "emulator_url": self.cfg.emulator_url,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        atomic_write_json(self.cfg.state_dir / stack_config.RUNTIME_FILE, runtime)

    def wait(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            if not self.api_thread.is_alive():
                log.error("the API server stopped unexpectedly; shutting down")
                return

    def shutdown(self, hurry: bool) -> None:
        """No new requests, no new events; let running handlers finish; save; free ports."""
        log.info("stopping: no new requests, draining event handlers")
        self.server.server.shutdown()
        self.scheduler.stop(timeout=self.cfg.drain_seconds)
        self.invoker.stop(0.0 if hurry else self.cfg.drain_seconds)
        self.streams.stop(0.0 if hurry else self.cfg.drain_seconds)
        self.notify_queue.stop(0.0 if hurry else self.cfg.drain_seconds)
        still_running = self.bridge.stop(0.0 if hurry else self.cfg.drain_seconds)
        if still_running:
            log.warning(
                "%d event handler(s) still running at exit; their events will be delivered again", still_running
            )
        self.store.stop()
        self.store.save()
        (self.cfg.state_dir / stack_config.RUNTIME_FILE).unlink(missing_ok=True)
        log.info("state saved to %s (%d snapshots this run)", self.cfg.state_dir, self.store.saves)


def run(cfg: StackConfig, out: TextIO = sys.stdout) -> int:
    stop, hurry = threading.Event(), threading.Event()
    _install_signals(stop, hurry)
    with ExitStack() as exits:
        _lock_state_dir(cfg, exits)
        stack_config.apply_app_environment(cfg)
        stack = LocalStack(cfg, exits)
        stack.start_emulator()
        stack.load_app()
        stack.prepare_storage()
        stack.wire_events()
        admin = _bootstrap_admin(cfg)
        stack.plan_schedules()
        stack.serve()
        _print_banner(out, stack, admin)
        stack.wait(stop)
        stack.shutdown(hurry.is_set())
    print("local stack stopped", file=out, flush=True)
    return 0


def _print_banner(out: TextIO, stack: LocalStack, admin: tuple[str, str | None, bool] | None) -> None:
    lines = _status_lines(stack, admin)
    user = admin[0] if admin else "admin"
    lines += _example_lines(stack.cfg.api_url, stack.cfg.emulator_url, stack.settings.upload_bucket, user)
    print("\n".join(lines), file=out, flush=True)


def _status_lines(stack: LocalStack, admin: tuple[str, str | None, bool] | None) -> list[str]:
    """What runs where: URLs, names, state, handlers, admin."""
    cfg, settings, restored = stack.cfg, stack.settings, stack.restored
    lines = [
        "",
        "AMR prediction service - local stack",
        f"  API              {cfg.api_url}",
        f"  web app          {cfg.api_url}/   (open it in a browser)",
        f"  AWS emulator     {cfg.emulator_url}   (any access key works; region us-east-1)",
        f"  buckets          uploads={settings.upload_bucket}  results={settings.results_bucket}  "
        f"archive={settings.archive_bucket}",
        f"  tables           {', '.join(stack.tables)}",
        f"  state            {cfg.state_dir}  (snapshot every {cfg.snapshot_seconds:g} s and at exit)",
    ]
    if restored.saved_at:
        n = stack.redelivered
        again = f"; {n} undelivered upload event(s) queued again" if n else ""
        lines.append(
            f"  restored         {restored.items} items, {restored.objects} objects "
            f"from the snapshot of {restored.saved_at}{again}"
        )
    wiring = ", ".join(f"s3://{s.bucket} {' '.join(s.events)} -> {s.name}" for s in stack.sources)
    lines.append(f"  upload events    {wiring or '(no @app.on_s3_event handler registered)'}")
    plan = stack.scheduler.plan()
    off = "" if cfg.scheduler_enabled else "  [AMR_SCHEDULER=off: on demand only]"
    for s in stack.schedules:
        lines.append(f"  schedule         {s.name}: {s.expression}, next {plan.get(s.name) or 'on demand only'}{off}")
    if not stack.schedules:
        lines.append("  schedules        (no @app.schedule handler registered)")
    if admin is None:
        lines.append("  admin            (this app version has no accounts module)")
    elif admin[1] is not None:
        lines.append(f"  admin            created '{admin[0]}' with generated password: {admin[1]}")
        lines.append("                   (shown once, never stored in clear; set AMR_ADMIN_PASSWORD to choose it)")
    else:
        state = "created" if admin[2] else "exists"
        lines.append(
            f"  admin            '{admin[0]}' ({state}; password from AMR_ADMIN_PASSWORD or shown at first start)"
        )
    return lines


def _example_lines(api: str, emu: str, bucket: str, admin: str) -> list[str]:
    """One copy-paste example per way of use (design §3)."""
    json_h = "-H 'Content-Type: application/json'"
    token = "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"
    job_id = '$(python3 -c \'import json; print(json.load(open("job.json"))["job"]["job_id"])\')'
    form = (
        '$(python3 -c \'import json; u=json.load(open("job.json"))["upload"]; '
        'print(*[f"-F {k}={v}" for k, v in u["fields"].items()], u["url"])\')'
    )
    creds = "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1"
    return [
        "",
        "Try it (genome.fa = any FASTA, e.g. zcat /usr/share/doc/resfinder/examples/data/test_isolate_01.fa.gz):",
        "  # HTTP API: register, log in, submit, upload with the presigned POST, watch",
        f"  curl -s -X POST {api}/auth/register {json_h} \\",
        '       -d \'{"username": "alice", "password": "correct-horse-1", "email": "alice@example.org"}\'',
        f"  TOKEN=$(curl -s -X POST {api}/auth/login {json_h} \\",
        f'       -d \'{{"username": "alice", "password": "correct-horse-1"}}\' {token})',
        f'  curl -s -X POST {api}/jobs -H "Authorization: Bearer $TOKEN" {json_h} \\',
        '       -d \'{"job_name": "demo", "filename": "genome.fa"}\' > job.json',
        f"  curl -s {form} -F file=@genome.fa",
        f'  curl -s {api}/jobs/{job_id} -H "Authorization: Bearer $TOKEN"',
        f'  curl -s {api}/jobs/{job_id}/results -H "Authorization: Bearer $TOKEN"',
        "  # command line (`.venv/bin/amr --help`): register (asks for a password), submit and wait, read",
        f"  export AMR_API_URL={api}",
        "  .venv/bin/amr register --username alice --email alice@example.org",
        "  .venv/bin/amr submit genome.fa --wait && .venv/bin/amr results JOB",
        "  # upload bucket: drop a file into inbox/{username}/ (no API call), aws-cli or boto3",
        f"  {creds} aws --endpoint-url {emu} s3 cp genome.fa s3://{bucket}/inbox/alice/genome.fa",
        f"  .venv/bin/python -c \"import boto3; boto3.client('s3', endpoint_url='{emu}', region_name='us-east-1', "
        f"aws_access_key_id='local', aws_secret_access_key='local').upload_file('genome.fa', '{bucket}', "
        "'inbox/alice/genome.fa')\"",
        "  # maintenance now: over HTTP as an admin, or run a schedule handler directly",
        f"  ADMIN_TOKEN=$(curl -s -X POST {api}/auth/login {json_h} \\",
        f'       -d \'{{"username": "{admin}", "password": "<admin password>"}}\' {token})',
        f'  curl -s -X POST {api}/admin/maintenance -H "Authorization: Bearer $ADMIN_TOKEN" {json_h} '
        "-d '{\"dry_run\": true}'",
        "  .venv/bin/python -m local.run_schedule --list    # then: ... run_schedule NAME  or  --all",
        "",
        "Ctrl-C (or SIGTERM) stops and saves; `make run` again continues where it stopped.",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__.split("\n")[0])
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        return run(stack_config.load_config())
    except StartupError as exc:
        print(f"local stack: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
