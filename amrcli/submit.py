"""`amr submit FILE...`: one job per sample, uploads in parallel, then (--wait) live progress.

Order of work, so nothing is left unexplained:
1. every argument is checked (files, mates, parameters) before the first request;
2. the jobs are created (with --batch: all at once, as one batch); if one creation
   fails, the ones already created are cancelled;
3. the files go up in parallel; a job whose upload failed, or did not finish when
   Ctrl-C came, is cancelled and named (with its id) in the message;
4. with --wait, the jobs are followed to the end and summarised in a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from amrcli import inputs
from amrcli.api import Api, job_path
from amrcli.app import JsonFlag, Session, app, session
from amrcli.errors import CliError, Exit
from amrcli.live import any_failed, outcome_table, watch_jobs
from amrcli.output import status_text
from amrcli.upload import DEFAULT_PARALLEL, Transfer, Uploads, upload_all
from amrcli.views import human_bytes


@dataclass
class Created:
    sample: inputs.Sample
    answer: dict[str, Any]  # POST /jobs: {job, upload, mate_upload?}

    @property
    def job(self) -> dict[str, Any]:
        return dict(self.answer["job"])

    @property
    def job_id(self) -> str:
        return str(self.answer["job"]["job_id"])


def _cancel_all(api: Api, created: list[Created]) -> tuple[list[Created], list[Created]]:
    """Cancel each job; (cancelled, could not be cancelled)."""
    cancelled, left = [], []
    for item in created:
        try:
            api.call("POST", job_path(item.job_id, "cancel"))
            cancelled.append(item)
        except CliError:
            left.append(item)
    return cancelled, left


def _explain(s: Session, api: Api, why: str, created: list[Created]) -> str:
    """Cancel `created` and say so, naming each job; the text for the final error."""
    if not created:
        return why
    cancelled, left = _cancel_all(api, created)
    for item in cancelled:
        s.out.note(f"cancelled {item.job_id} ({item.job['job_name']}): its input was not uploaded", "yellow")
    for item in left:
        s.out.note(
            f"could not cancel {item.job_id} ({item.job['job_name']}); cancel it with `amr cancel {item.job_id}`"
        )
    return f"{why}; {len(cancelled)} job(s) cancelled" + (f", {len(left)} left Submitted" if left else "")


def _create(
    s: Session, api: Api, samples: list[inputs.Sample], name: str | None, params: dict[str, Any]
) -> list[Created]:
    created: list[Created] = []
    try:
        for sample in samples:
            body: dict[str, Any] = {
                "job_name": inputs.job_name(sample, name, len(samples)),
                "filename": inputs.service_filename(sample.files[0]),
            }
            if sample.paired:
                body["mate_filename"] = inputs.service_filename(sample.files[1])
            if params:
                body["params"] = params
            created.append(Created(sample, api.call("POST", "/jobs", json=body)))
    except CliError as exc:
        exc.message = _explain(s, api, f"creating the job for {sample.name} failed: {exc.message}", created)
        raise
    except KeyboardInterrupt:
        raise CliError(_explain(s, api, "interrupted while creating jobs", created), Exit.INTERRUPTED) from None
    return created


def _create_batch(
    api: Api, batch_name: str, samples: list[inputs.Sample], name: str | None, params: dict[str, Any]
) -> tuple[dict[str, Any], list[Created]]:
    """One POST /batches for every sample: the service creates all the jobs or none."""
    entries = []
    for sample in samples:
        entry = {
            "name": inputs.job_name(sample, name, len(samples)),
            "filename": inputs.service_filename(sample.files[0]),
        }
        if sample.paired:
            entry["mate_filename"] = inputs.service_filename(sample.files[1])
        entries.append(entry)
    body: dict[str, Any] = {"batch_name": batch_name, "samples": entries}
    if params:
        body["params"] = params
    answer = api.call("POST", "/batches", json=body)
    return answer["batch"], [Created(sample, opened) for sample, opened in zip(samples, answer["jobs"], strict=False)]


def _transfers(created: list[Created]) -> list[Transfer]:
    transfers = []
    for item in created:
        uploads = [item.answer["upload"]] + ([item.answer.get("mate_upload")] if item.sample.paired else [])
        for path, upload in zip(item.sample.files, uploads, strict=False):
            if not upload:
                raise CliError(
                    f"The service gave no upload for the mate {path.name}",
                    Exit.USAGE,
                    "This service version does not take read pairs; submit the files one by one.",
                )
            limit = upload.get("max_bytes")
            if limit and path.stat().st_size > limit:
                raise CliError(
                    f"{path} is {human_bytes(path.stat().st_size)}; the limit is {human_bytes(limit)}", Exit.USAGE
                )
            transfers.append(Transfer(item.job_id, path, inputs.service_filename(path), upload))
    return transfers


def _incomplete(created: list[Created], transfers: list[Transfer], done: set[int]) -> list[Created]:
    missing = {t.job_id for i, t in enumerate(transfers) if i not in done}
    return [item for item in created if item.job_id in missing]


def _upload(s: Session, api: Api, created: list[Created], parallel: int) -> tuple[list[Created], CliError | None]:
    """Upload every file. Returns the jobs whose files all arrived, and the first upload
    error if some did not (those jobs are cancelled and named)."""
    try:
        transfers = _transfers(created)
    except CliError as exc:
        exc.message = _explain(s, api, exc.message, created)
        raise
    result = Uploads()
    try:
        upload_all(api, transfers, s.out, parallel, result)
    except KeyboardInterrupt:
        incomplete = _incomplete(created, transfers, result.done)
        for item in created:
            if item not in incomplete:
                s.out.note(f"uploaded {item.job_id} ({item.job['job_name']}): it runs; `amr watch {item.job_id}`")
        message = _explain(s, api, "interrupted during upload", incomplete)
        raise CliError(message, Exit.INTERRUPTED) from None
    for index, error in sorted(result.failed.items()):
        s.out.note(f"upload of {transfers[index].path} failed: {error.message}", "red")
    incomplete = _incomplete(created, transfers, result.done)
    if not incomplete:
        return created, None
    first = result.failed[min(result.failed)]
    message = _explain(s, api, f"{len(incomplete)} of {len(created)} job(s) could not be uploaded", incomplete)
    error = CliError(message, first.exit_code, first.hint)
    if len(incomplete) == len(created):
        raise error
    return [item for item in created if item not in incomplete], error


@app.command()
def submit(
    ctx: typer.Context,
    files: Annotated[
        list[Path], typer.Argument(help="FASTA genomes or FASTQ reads (R1/R2 mates pair up).", metavar="FILE...")
    ],
    name: Annotated[str | None, typer.Option(help="Job name (with several samples: a prefix).")] = None,
    species: Annotated[
        str | None, typer.Option(help="Species for the point-mutation search, e.g. escherichia_coli.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Job parameter KEY=VALUE (repeatable).", metavar="KEY=VALUE"),
    ] = None,
    batch: Annotated[
        str | None,
        typer.Option("--batch", help="Submit the files as one batch of this name (a sequencing run).", metavar="NAME"),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Follow the jobs until they end, then show the findings.")
    ] = False,
    parallel: Annotated[int, typer.Option(min=1, max=16, help="Files uploaded at once.")] = DEFAULT_PARALLEL,
    as_json: JsonFlag = False,
) -> None:
    """Submit genomes: one job per file (or read pair), uploaded in parallel with progress bars."""
    s = session(ctx)
    samples = inputs.group_samples(files)
    params = inputs.parse_params(param or [], species)
    api = s.api()
    made_batch: dict[str, Any] | None = None
    if batch is not None:
        made_batch, created = _create_batch(api, batch, samples, name, params)
        s.out.note(f"Batch {made_batch['batch_id']} ({made_batch['batch_name']}): {len(created)} sample(s)")
    else:
        created = _create(s, api, samples, name, params)
    uploaded, upload_error = _upload(s, api, created, parallel)
    jobs = [item.job for item in uploaded]
    extra = {"batch": made_batch} if made_batch else {}
    if upload_error is not None:
        s.out.note(f"error: {upload_error.message}; going on with the rest", "red")
    if not wait:
        if as_json:
            s.out.json({**extra, "jobs": jobs})
        else:
            s.out.table(
                ["Job", "Name", "Status", "Files"],
                [
                    [j["job_id"], j["job_name"], status_text(j["status"]), [p.name for p in u.sample.files]]
                    for j, u in zip(jobs, uploaded, strict=False)
                ],
            )
            if made_batch:
                s.out.note(
                    f"Follow with `amr watch --batch {made_batch['batch_id']}`; "
                    f"read the matrix with `amr batch matrix {made_batch['batch_id']}`."
                )
            else:
                s.out.note("Follow with `amr watch JOB`; read findings with `amr results JOB`.")
        if upload_error is not None:
            raise upload_error
        return
    try:
        final = watch_jobs(api, s.out, jobs)
    except KeyboardInterrupt:
        raise CliError(
            "stopped watching; the jobs go on", Exit.INTERRUPTED, "Follow them with `amr watch JOB` or `amr jobs`."
        ) from None
    if as_json:
        s.out.json({**extra, "jobs": final})
    else:
        outcome_table(s.out, final)
        if made_batch:
            s.out.note(f"The run as one table: `amr batch matrix {made_batch['batch_id']}`.")
    if upload_error is not None:
        raise upload_error
    if any_failed(final):
        raise typer.Exit(Exit.JOB_FAILED)
