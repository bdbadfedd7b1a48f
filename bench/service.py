"""Time inside the running service against ResFinder 4.3 timed in the same run (design §12, §24).

    python bench/service.py [--species klebsiella] [--modes acq,point] [--no-drafts]

Starts the local stack (`python -m local.stack`, fresh state, free loopback ports), drops
each genome into the upload bucket as the admin user (object metadata sets the species),
one job at a time (every Lambda invocation has CPUs of its own while the local stack shares
this machine's), and reads each job's `stats.seconds` from `GET /jobs/{id}/results`. The
genomes are the four `kleborate-examples` assemblies plus drafts cut from them with
`bench/fragment.py` (MGH78578 into ~600 contigs with acrR split across two, HS11286 into
~300): fragmented assemblies are where per-contig costs show. In the same run ResFinder 4.3
(`-acq`, and `-acq -c -s SPECIES` for mode `point`) is timed on the same file, and the
predictor alone in this process (warm index), which is what `bench/predict.py` times.
Prints per genome and mode: ours in the service, ResFinder, their ratio (target >= 20x,
median >= 40x), and service / in-process (target <= 1.5x); and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fragment import fragment, read_fasta, write_fasta  # noqa: E402
from bench.predict import (  # noqa: E402
    RESFINDER_SCRIPT,
    decompress,
    find_genomes,
    genome_name,
    run_resfinder,
    unpacked_point_db,
)
from chalicelib.jobs.params import PredictParams  # noqa: E402
from chalicelib.prediction import acquired  # noqa: E402
from chalicelib.prediction.fasta import FastaReader  # noqa: E402
from local.client import free_port, stack_environment  # noqa: E402

ADMIN_PASSWORD = "bench-service-password-1"


def http(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def wait(what: str, probe: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            result = probe()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def in_process_seconds(path: Path, species: str) -> float:
    """The benchmark's figure: the predictor alone, warm index, same parameters."""
    data = path.read_bytes()
    import io

    acquired.predict(FastaReader(io.BytesIO(data), name=path.name), PredictParams(species=species))  # warm up
    t0 = time.perf_counter()
    acquired.predict(FastaReader(io.BytesIO(data), name=path.name), PredictParams(species=species))
    return time.perf_counter() - t0


def prepare(work: Path, drafts: bool) -> list[Path]:
    """Plain FASTA files: the kleborate-examples genomes and (optionally) drafts cut from them."""
    files = [decompress(g, work / f"{genome_name(g)}.fna") for g in find_genomes()]
    if drafts:
        from bench.fragment import gene_cuts

        for name, contigs, split in (("MGH78578", 600, "acrR"), ("Klebs_HS11286", 300, None)):
            source = work / f"{name}.fna"
            if not source.is_file():
                continue
            records = read_fasta(source)
            forced = gene_cuts(records, "klebsiella", split) if split else None
            out = work / f"{name}_draft{contigs}.fna"
            with open(out, "w") as fh:
                write_fasta(fragment(records, contigs, seed=1, forced=forced), fh)
            files.append(out)
    return files


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", default="klebsiella")
    parser.add_argument("--modes", default="acq,point", help="acq (no species) and/or point (with --species)")
    parser.add_argument("--no-drafts", action="store_true")
    parser.add_argument("--no-resfinder", action="store_true")
    args = parser.parse_args()
    if not find_genomes():
        print("kleborate-examples is not installed (apt-get install kleborate-examples); nothing to measure.")
        return 0
    blastn = shutil.which("blastn")
    have_rf = not args.no_resfinder and Path(RESFINDER_SCRIPT).is_file() and blastn is not None
    import boto3

    api_port, emulator_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="amr-service-bench-") as tmp:
        work = Path(tmp)
        files = prepare(work, not args.no_drafts)
        point_db = unpacked_point_db(work / "db_pointfinder") if have_rf else Path()
        env = stack_environment(api_port, emulator_port, Path(tmp, "state"),
                                AMR_ADMIN_PASSWORD=ADMIN_PASSWORD, POWERTOOLS_LOG_LEVEL="WARNING")
        log = open(Path(tmp, "stack.log"), "wb")
        stack = subprocess.Popen([sys.executable, "-m", "local.stack"], cwd=ROOT, env=env, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        api = f"http://127.0.0.1:{api_port}"
        rows: list[tuple[str, str, int, float, float | None, float]] = []
        try:
            wait("the local stack", lambda: http("GET", f"{api}/health")["status"] == "ok", 180)
            token = http("POST", f"{api}/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})["access_token"]
            s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{emulator_port}", region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
            print(f"load average at start: {load_average()}")
            done = 0
            for mode in args.modes.split(","):
                species = args.species if mode == "point" else "other"
                for path in files:  # one at a time: each Lambda invocation has its own CPU
                    key = f"{path.stem}-{mode}.fna"
                    s3.put_object(Bucket="amr-local-uploads", Key=f"inbox/admin/{key}", Body=path.read_bytes(),
                                  Metadata={"species": species})
                    done += 1

                    def finished(expected: int = done) -> list[dict[str, Any]] | None:
                        listed = http("GET", f"{api}/jobs?limit=100", token=token)["jobs"]
                        ended = [j for j in listed if j["status"] in ("Completed", "Error")]
                        return listed if len(ended) == expected else None

                    jobs = wait(f"{key} to finish", finished, 900)
                    job = next(j for j in jobs if j["job_name"] == key)
                    if job["status"] != "Completed":
                        print(f"{key}: ended in {job['status']}: {job['error']}")
                        continue
                    result = http("GET", f"{api}/jobs/{job['job_id']}/results", token=token)
                    seconds = result["stats"]["seconds"]
                    contigs = result["stats"].get("contigs", 0)
                    theirs = None
                    if have_rf:
                        rf, err = run_resfinder(path, work, blastn or "blastn",
                                                species.replace("_", " ") if mode == "point" else None, point_db)
                        theirs = rf.seconds if rf else None
                        if rf is None:
                            print(f"{key}: ResFinder failed: {err}")
                    alone = in_process_seconds(path, species)
                    rows.append((path.stem, mode, contigs, seconds, theirs, alone))
                    print(f"  {path.stem} {mode}: service {seconds:.2f} s, ResFinder {theirs or 0:.2f} s, "
                          f"load {load_average()}", flush=True)
        finally:
            os.killpg(stack.pid, signal.SIGTERM)
            stack.wait(timeout=60)
            log.close()
    print()
    print(f"{'genome':<24} {'mode':<5} {'contigs':>7} {'service s':>9} {'ResFinder s':>11} {'ratio':>7} "
          f"{'alone s':>7} {'svc/alone':>9}")
    ratios: list[float] = []
    for name, mode, contigs, seconds, theirs, alone in rows:
        ratio = f"{theirs / seconds:.1f}x" if theirs else "-"
        if theirs:
            ratios.append(theirs / seconds)
        print(f"{name:<24} {mode:<5} {contigs:>7} {seconds:>9.2f} {(theirs or 0):>11.2f} {ratio:>7} "
              f"{alone:>7.2f} {seconds / alone:>8.2f}x")
    if ratios:
        ratios.sort()
        print(f"ratio: min {ratios[0]:.1f}x, median {ratios[len(ratios) // 2]:.1f}x (targets >= 20x, median >= 40x); "
              f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
