"""Parallel uploads straight to S3 with the presigned POSTs, one progress bar per file.

httpx streams each file as the last part of the multipart form (S3 requires it last) and
reads it through rich's progress reader, so the bar moves with the bytes sent.

Why plain daemon threads and not a ThreadPoolExecutor: the executor joins its workers at
interpreter exit, so an upload stuck in a socket send would hold Ctrl-C hostage. Here
Ctrl-C reaches the main thread at once, the files are closed (a worker fails on its next
read), and the caller cancels the jobs whose input never fully arrived.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from amrcli.api import Api, error_from, unreachable
from amrcli.errors import CliError, Exit
from amrcli.output import Output
from amrcli.views import human_bytes

DEFAULT_PARALLEL = 4
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Transfer:
    job_id: str
    path: Path
    filename: str  # the name the service expects (its key's last part)
    upload: dict[str, Any]  # {url, fields, expires_in, max_bytes}


@dataclass
class Uploads:
    """What happened to each transfer (by index); `done` is filled as uploads finish."""

    done: set[int] = field(default_factory=set)
    failed: dict[int, CliError] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def finished(self, index: int, error: CliError | None) -> None:
        with self._lock:
            if error is None:
                self.done.add(index)
            else:
                self.failed[index] = error


def _progress(out: Output) -> Progress:
    return Progress(
        TextColumn("{task.description}", style="bold"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=out.err,
        disable=not out.bars,
    )


def _send(api: Api, transfer: Transfer, reader: BinaryIO) -> None:
    upload = transfer.upload
    try:
        response = api.storage().post(
            upload["url"],
            data=upload["fields"],
            files={"file": (transfer.filename, reader, "application/octet-stream")},
        )
    except httpx.TransportError as exc:
        raise unreachable(upload["url"], exc) from None
    if response.status_code >= 300:
        raise error_from(response)


def upload_all(
    api: Api, transfers: list[Transfer], out: Output, parallel: int = DEFAULT_PARALLEL, result: Uploads | None = None
) -> Uploads:
    """Upload every transfer, `parallel` at a time, recording into `result`.

    KeyboardInterrupt propagates at once; `result.done` then tells which files arrived in full.
    """
    result = result if result is not None else Uploads()
    if not transfers:
        return result
    todo: queue.Queue[int] = queue.Queue()
    for index in range(len(transfers)):
        todo.put(index)
    finished: queue.Queue[int] = queue.Queue()
    aborted = threading.Event()
    readers: list[BinaryIO] = []
    progress = _progress(out)

    def work() -> None:
        while not aborted.is_set():
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            transfer = transfers[index]
            error: CliError | None = None
            try:
                task = progress.add_task(transfer.path.name, total=transfer.path.stat().st_size)
                with progress.open(transfer.path, "rb", task_id=task) as reader:
                    readers.append(reader)
                    _send(api, transfer, reader)
            except CliError as exc:
                error = exc
            except (OSError, ValueError) as exc:  # unreadable file, or closed by an abort
                error = CliError(f"{transfer.path}: {exc}", Exit.USAGE)
            except Exception as exc:  # noqa: BLE001 - a worker must always report back
                error = CliError(f"{transfer.path}: upload failed ({type(exc).__name__}: {exc})", Exit.UNAVAILABLE)
            result.finished(index, error)
            if error is None and not out.bars:
                out.note(f"uploaded {transfer.path.name} ({human_bytes(transfer.path.stat().st_size)})")
            finished.put(index)

    workers = [threading.Thread(target=work, name=f"amr-upload-{n}", daemon=True) for n in range(parallel)]
    with progress:
        for worker in workers[: len(transfers)]:
            worker.start()
        remaining = len(transfers)
        try:
            while remaining:  # a timed get, so Ctrl-C is handled at once
                try:
                    finished.get(timeout=_POLL_SECONDS)
                    remaining -= 1
                except queue.Empty:
                    pass
        except KeyboardInterrupt:
            aborted.set()
            for reader in list(readers):
                reader.close()
            raise
    return result
