"""Dollars per 1,000 genomes on AWS, beside ResFinder on an on-demand instance, and the
capacity on paper (design §24).

    python bench/cost.py [--genome FASTA] [--species klebsiella] [--seconds S] [--resfinder-seconds S]

Measured in this run (in-process moto, the real handler, the `test` stage):
* one genome job end to end as a client drives it — POST /jobs (`create_job`), the
  presigned upload, the upload event's prediction (`handle_upload_event`), three status
  polls, the results call and two downloads — with every DynamoDB and S3 request counted
  by a botocore hook and its payload size kept, so write and read units are computed as
  DynamoDB bills them (1 KB write units, 4 KB read units, transactions twice, every job
  write also written to the jobs table's three all-projecting indexes);
* the prediction's seconds (`stats.seconds`, warm, this process) unless `--seconds` gives
  the local stack's figure (`bench/service.py`), plus the handler's own overhead;
* ResFinder 4.3 `-acq -c -s SPECIES` on the same genome (unless `--resfinder-seconds`).

Prices: AWS list prices, region us-east-1 (N. Virginia), on-demand, x86, as published in
2026 (DynamoDB on-demand after the November 2024 price cut); written below, change them
here. The Lambda memory is the upload function's configured memory (.chalice/config.json).
Free tiers are ignored.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import benchenv  # noqa: F401  (must precede chalicelib imports)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGION = "us-east-1"
LAMBDA_GB_SECOND = 0.0000166667  # x86, first 6 billion GB-s a month
LAMBDA_REQUEST = 0.20 / 1e6
API_GATEWAY_REQUEST = 3.50 / 1e6  # REST API, first 333 million a month
DYNAMODB_WRU = 0.625 / 1e6  # on-demand write request unit
DYNAMODB_RRU = 0.125 / 1e6  # on-demand read request unit
DYNAMODB_GB_MONTH = 0.25
S3_PUT = 0.005 / 1000  # PUT, COPY, POST, LIST
S3_GET = 0.0004 / 1000  # GET, HEAD and the rest
S3_GB_MONTH = 0.023  # Standard, first 50 TB
S3_GLACIER_IR_GB_MONTH = 0.004  # Glacier Instant Retrieval (90-day minimum)
S3_GLACIER_IR_PUT = 0.02 / 1000
LOGS_GB = 0.50  # CloudWatch Logs ingestion
EC2_INSTANCE = "c6i.large"  # 2 vCPU, 4 GiB: ResFinder runs one genome per vCPU (blastn, one thread)
EC2_HOUR = 0.085
EC2_VCPUS = 2

#: AWS limits the capacity table uses (defaults of a new account / table).
LAMBDA_CONCURRENCY = 1000
DDB_PARTITION_WRU = 1000  # per partition, hence per item (a counter shard), per second
DDB_PARTITION_RRU = 3000
DDB_ON_DEMAND_INITIAL_WRU = 4000  # a new on-demand table serves this at once; it doubles past peaks
DDB_TABLE_MAX_WRU = 40000  # default per-table on-demand maximum (a quota, raisable)
S3_PREFIX_PUT = 3500  # per prefix per second
S3_PREFIX_GET = 5500
COUNTER_SHARDS = 16
JOB_TABLE_INDEXES = 3  # user-created, user-status, status-changed (all attributes projected)

#: The client's part of a job (what `amr submit --wait` does): create, upload, polls, results.
POLLS = 3
DOWNLOADS = 2

WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
S3_PUT_OPS = {"PutObject", "CopyObject", "ListObjectsV2", "ListObjects", "CreateMultipartUpload", "UploadPart"}


class Meter:
    """DynamoDB capacity units and S3 requests of everything the service does, counted
    from each request's parameters (before-call hooks on the service's own clients)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.wru = 0.0
        self.rru = 0.0
        self.s3: Counter[str] = Counter()
        self._hooked: set[int] = set()

    def hook(self) -> None:
        from chalicelib.core import aws
        from chalicelib.core import tables as models

        for client in models.dynamodb_clients():
            if id(client) not in self._hooked:
                client.meta.events.register("before-call.dynamodb", self._dynamodb)
                client.meta.events.register("after-call.dynamodb", self._dynamodb_read)
                self._hooked.add(id(client))
        s3 = aws.client("s3")
        if id(s3) not in self._hooked:
            s3.meta.events.register("before-call.s3", self._s3)
            self._hooked.add(id(s3))

    def _dynamodb(self, model: Any, params: Any, **_: Any) -> None:
        name = model.name
        self.calls[name] += 1
        if name not in WRITE_OPS:
            return
        body = params.get("body") if isinstance(params, dict) else None
        if isinstance(body, (bytes, str)):  # the serialised request: what DynamoDB receives
            params = json.loads(body)
        if name == "TransactWriteItems":
            for item in params.get("TransactItems", []):
                for kind, body in item.items():
                    if kind != "ConditionCheck":
                        self.wru += 2 * _units(body, 1024) * _fanout(body)
        elif name == "BatchWriteItem":
            for table, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    self.wru += _units(request, 1024) * _fanout({"TableName": table})
        else:
            self.wru += _units(params, 1024) * _fanout(params)

    def _dynamodb_read(self, model: Any, parsed: Any, **_: Any) -> None:
        name = model.name
        if name in ("GetItem", "Query", "Scan"):
            self.rru += max(1, _units(parsed, 4096))
        elif name in ("BatchGetItem", "TransactGetItems"):
            responses = parsed.get("Responses", {})
            items = [i for v in responses.values() for i in v] if isinstance(responses, dict) else responses
            self.rru += sum(max(1, _units(i, 4096)) for i in items) * (2 if name == "TransactGetItems" else 1)

    def _s3(self, model: Any, **_: Any) -> None:
        self.s3[model.name] += 1


def _units(body: Any, unit: int) -> int:
    """Capacity units of a request or response body (its JSON size, a close upper bound of
    DynamoDB's item size: attribute names plus values)."""
    return max(1, math.ceil(len(json.dumps(body, default=str)) / unit))


def _fanout(body: Any) -> int:
    """A job item's write is also a write to each of its indexes."""
    table = str(body.get("TableName", ""))
    return 1 + JOB_TABLE_INDEXES if table.endswith("-jobs") else 1


def configured_memory_mb() -> int:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return int(config["stages"]["dev"]["lambda_functions"]["on_upload"]["lambda_memory_size"])


def default_genome() -> Path | None:
    from bench.predict import find_genomes

    found = [g for g in find_genomes() if "MGH78578" in g.name]
    return found[0] if found else None


def measure_job(genome: bytes, species: str) -> dict[str, Any]:
    """One job as a client drives it, on moto; counts, sizes and the handler's time."""
    from moto import mock_aws

    from chalicelib.core import aws
    from chalicelib.core.settings import get_settings
    from chalicelib.jobs import lifecycle as jobs
    from chalicelib.jobs import queries, s3layout
    from chalicelib.prediction import intake as prediction
    from local.provision import provision

    def put(key: str, body: bytes) -> dict[str, Any]:
        """Upload, and the ObjectCreated notification S3 sends for it."""
        bucket = get_settings().upload_bucket
        etag = aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
        obj = {"key": key, "size": len(body), "eTag": etag, "sequencer": f"{time.time_ns():X}"}
        record = {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": REGION,
            "eventTime": "2026-12-01T00:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                "object": obj,
            },
        }
        return {"Records": [record]}

    with mock_aws():
        aws.reset_clients()
        settings = provision()
        s3 = aws.client("s3")
        user_id, job_id = str(uuid.uuid4()), jobs.new_job_id()
        # Warm the index and the imports as a warm container has them: a first job.
        warm = jobs.create_job(
            user_id=user_id,
            job_name="warm",
            params={"species": species},
            job_id=job_id,
            input_key=s3layout.upload_key(user_id, job_id, "g.fna"),
            input_filename="g.fna",
        )
        prediction.handle_upload_event(put(warm.input_key, genome))
        meter = Meter()
        meter.hook()
        job_id = jobs.new_job_id()
        meter.rru += 1  # the API's account check (GetItem) of POST /jobs
        job = jobs.create_job(
            user_id=user_id,
            job_name="cost",
            params={"species": species},
            job_id=job_id,
            input_key=s3layout.upload_key(user_id, job_id, "g.fna"),
            input_filename="g.fna",
        )
        meter.s3["PutObject"] += 1  # the client's presigned POST
        event = put(job.input_key, genome)
        meter.s3["PutObject"] -= 1  # `put` is that same upload, made here with the service's client
        t0, cpu0 = time.perf_counter(), time.process_time()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        prediction.handle_upload_event(event)
        handler_seconds = time.perf_counter() - t0
        handler_cpu = time.process_time() - cpu0
        for _ in range(POLLS):  # GET /jobs/{id}: account check + GetItem
            meter.rru += 1
            queries.get_job(job.job_id)
        meter.rru += 1
        done = queries.get_job(job.job_id)  # GET /jobs/{id}/results
        keys = list(done.result_keys or [])
        stats_seconds = 0.0
        for key in keys[:DOWNLOADS]:
            body = s3.get_object(Bucket=settings.results_bucket, Key=key)["Body"].read()
            if key.endswith("predictions.json"):
                stats_seconds = float(json.loads(body).get("stats", {}).get("seconds", 0.0))
        stored = sum(s3.head_object(Bucket=settings.results_bucket, Key=k)["ContentLength"] for k in keys)
        meter.s3["HeadObject"] -= len(keys)  # the sizes above are this bench's, not the service's
        return {
            "status": done.status,
            "calls": dict(meter.calls),
            "wru": meter.wru,
            "rru": meter.rru,
            "s3": dict(meter.s3),
            "handler_seconds": handler_seconds,
            "handler_cpu": handler_cpu,
            "stats_seconds": stats_seconds,
            "result_bytes": stored,
            "s3_result_keys": keys,
            "rss_mb": max(rss0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024,
            "api_calls": 1 + POLLS + 1,
        }


def resfinder_seconds(genome: Path, species: str) -> tuple[float, float] | None:
    """ResFinder's wall and CPU seconds (its process tree) on the genome."""
    from bench.predict import RESFINDER_SCRIPT, decompress, run_resfinder, unpacked_point_db

    blastn = shutil.which("blastn")
    if not (Path(RESFINDER_SCRIPT).is_file() and blastn):
        return None
    with tempfile.TemporaryDirectory(prefix="amr-cost-") as tmp:
        work = Path(tmp)
        fasta = decompress(genome, work / "genome.fna")
        point_db = unpacked_point_db(work / "pf")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run, _ = run_resfinder(fasta, work, blastn, species.replace("_", " "), point_db)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return (run.seconds, cpu) if run else None


def main() -> int:  # noqa: C901 - one report, printed in order
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genome", type=Path)
    parser.add_argument("--species", default="klebsiella")
    parser.add_argument("--seconds", type=float, help="the job's stats.seconds on the local stack")
    parser.add_argument("--resfinder-seconds", type=float)
    parser.add_argument("--genomes-per-day", type=int, default=100_000)
    args = parser.parse_args()
    genome = args.genome or default_genome()
    if genome is None:
        print("no genome: install kleborate-examples or pass --genome")
        return 0
    from bench.fragment import read_fasta

    text = "".join(f">{n}\n{s}\n" for n, s in read_fasta(genome)).encode()
    m = measure_job(text, args.species)
    seconds = args.seconds or m["stats_seconds"]
    overhead = max(0.0, m["handler_seconds"] - m["stats_seconds"])  # reading, writing, results (moto: high)
    measured_rf = None if args.resfinder_seconds else resfinder_seconds(genome, args.species)
    rf = args.resfinder_seconds or (measured_rf[0] if measured_rf else None)
    memory_gb = configured_memory_mb() / 1024
    lambda_s = seconds + overhead
    s3_put = sum(v for k, v in m["s3"].items() if k in S3_PUT_OPS) + 1  # + the client's upload
    s3_get = sum(v for k, v in m["s3"].items() if k not in S3_PUT_OPS and k != "DeleteObject")
    # The lifecycle policy: a Completed job stays in S3 Standard until it is archived
    # (min_age_days), then its input and results, gzip-compressed, in Glacier IR for the
    # Archived retention (at least Glacier IR's 90-day minimum).
    from chalicelib.jobs.policy import get_policy

    policy = get_policy()
    standard_days = (
        policy.archiving.min_age_days if policy.archiving.enabled else policy.retention_days.days("Completed")
    )
    archive_days = max(90.0, policy.retention_days.days("Archived")) if policy.archiving.enabled else 0.0
    standard_gb = (len(text) + m["result_bytes"]) / 1e9
    archived_gb = len(gzip.compress(text, 6)) / 1e9 + m["result_bytes"] / 3 / 1e9
    per_job = {
        "Lambda compute (GB-s)": memory_gb * lambda_s * LAMBDA_GB_SECOND,
        "Lambda requests": (1 + m["api_calls"]) * LAMBDA_REQUEST,
        "API calls (API Gateway + their Lambda)": m["api_calls"]
        * (API_GATEWAY_REQUEST + 1.0 * 0.05 * LAMBDA_GB_SECOND),
        "DynamoDB writes": m["wru"] * DYNAMODB_WRU,
        "DynamoDB reads": m["rru"] * DYNAMODB_RRU,
        "S3 requests": s3_put * S3_PUT + s3_get * S3_GET,
        f"S3 storage ({standard_days:.0f} days Standard, then {archive_days:.0f} days Glacier IR)": (
            standard_gb * standard_days / 30.4 * S3_GB_MONTH
            + archived_gb * archive_days / 30.4 * S3_GLACIER_IR_GB_MONTH
            + (len(m["s3_result_keys"]) + 1) * S3_GLACIER_IR_PUT * (archive_days > 0)
        ),
        "CloudWatch Logs (~8 KB/job)": 8e-6 * LOGS_GB,
    }
    total = sum(per_job.values())
    print(
        f"genome {genome.name}: {len(text) / 1e6:.1f} MB; job {m['status']}; region {REGION}, list prices in this file"
    )
    print(
        f"measured: prediction {seconds:.2f} s ({'local stack' if args.seconds else 'this process, warm'}), "
        f"handler overhead on moto {overhead:.2f} s, Lambda memory {memory_gb * 1024:.0f} MB "
        f"(peak RSS of this process {m['rss_mb']:.0f} MB)"
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    cpu_note = ""
    if measured_rf:
        cpu_note = f", ResFinder {measured_rf[1]:.2f} s ({measured_rf[1] / m['handler_cpu']:.0f}x by CPU)"
    print(f"CPU seconds (load-independent): our handler {m['handler_cpu']:.2f} s{cpu_note}; load average {load}")
    print(
        f"DynamoDB calls {m['calls']} = {m['wru']:.0f} write units, {m['rru']:.0f} read units; "
        f"S3 requests {m['s3']} + the upload; results {m['result_bytes'] / 1e3:.0f} kB"
    )
    print()
    print("| per 1,000 genomes | USD |")
    print("|---|---|")
    for k, v in per_job.items():
        print(f"| {k} | {v * 1000:.4f} |")
    print(f"| **total, this service** | **{total * 1000:.3f}** |")
    if rf:
        per_hour = EC2_VCPUS * 3600 / rf
        ec2 = 1000 / per_hour * EC2_HOUR
        print(
            f"| ResFinder 4.3 on {EC2_INSTANCE} (${EC2_HOUR}/h, {EC2_VCPUS} genomes at once, {rf:.1f} s each: "
            f"{per_hour:.0f} genomes/h) | {ec2:.3f} |"
        )
    print()
    rate_lambda = LAMBDA_CONCURRENCY / lambda_s  # genomes per second at full concurrency
    wru_job, rru_job = m["wru"], m["rru"]
    transitions = 3  # Submitted, Running, Completed: each counts in one global and one user shard
    limits = {
        f"Lambda, {LAMBDA_CONCURRENCY:,} concurrent executions": rate_lambda,
        f"DynamoDB on-demand, a new table's {DDB_ON_DEMAND_INITIAL_WRU:,} WRU/s": DDB_ON_DEMAND_INITIAL_WRU / wru_job,
        f"DynamoDB table maximum {DDB_TABLE_MAX_WRU:,} WRU/s (quota)": DDB_TABLE_MAX_WRU / wru_job,
        f"DynamoDB counter shard ({COUNTER_SHARDS} per scope, {DDB_PARTITION_WRU:,} writes/s each)": COUNTER_SHARDS
        * DDB_PARTITION_WRU
        / transitions,
        f"S3, {S3_PREFIX_PUT:,} PUT/s per prefix (one user's uploads)": S3_PREFIX_PUT / 1,
        "API Gateway stage throttle, 50 requests/s (infra default)": 50 / (m["api_calls"] + 1),
        "API Gateway account limit, 10,000 requests/s": 10_000 / (m["api_calls"] + 1),
    }
    print("| limit | genomes/s | genomes/hour |")
    print("|---|---|---|")
    for k, v in sorted(limits.items(), key=lambda kv: kv[1]):
        print(f"| {k} | {v:,.0f} | {v * 3600:,.0f} |")
    day = args.genomes_per_day
    print()
    print(
        f"At {LAMBDA_CONCURRENCY:,} concurrent executions: {rate_lambda * 3600:,.0f} genomes/hour, "
        f"DynamoDB {rate_lambda * wru_job:,.0f} WRU/s and {rate_lambda * rru_job:,.0f} RRU/s, "
        f"S3 {rate_lambda * s3_put:,.0f} PUT/s spread over per-job prefixes."
    )
    even, burst = day / 86400, day / 3600
    first = min(limits.items(), key=lambda kv: kv[1])
    print(
        f"A {day:,}-genome day: {even:.1f} genomes/s spread over the day ({even * lambda_s:.0f} concurrent "
        f"executions, {even * wru_job:.0f} WRU/s); all in one hour {burst:.0f}/s "
        f"({burst * lambda_s:.0f} concurrent, {burst * wru_job:,.0f} WRU/s). The first limit met: {first[0]} "
        f"at {first[1]:,.1f} genomes/s (through the API; bucket drops do not use it)."
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("AMR_STAGE", "test")
    sys.exit(main())
