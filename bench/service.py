"""Time inside the running service against the benchmark's time, per genome (design §12 Speed).

    python bench/service.py [--species klebsiella]

Starts the local stack (`python -m local.stack`, fresh state, free loopback ports), drops
the four `kleborate-examples` genomes into the upload bucket one after the other as the
admin user (object metadata sets the species; each waits for the previous job, since
every Lambda invocation has CPUs of its own while the local stack shares this machine's),
lets each complete through the real event bridge, and reads each job's `stats.seconds` from `GET /jobs/{id}/results`. The same
genomes are then predicted in this process with the same parameters and a warm index (a
warm Lambda container), which is what `bench/predict.py` times. Prints both and their
ratio (target: in-service <= 1.5x the benchmark).
"""
from __future__ import annotations

import argparse
import json
import lzma
import os
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

from bench.predict import find_genomes, genome_name  # noqa: E402
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
    with lzma.open(path, "rb") as fh:
        data = fh.read()
    import io

    acquired.predict(FastaReader(io.BytesIO(data), name=path.name), PredictParams(species=species))  # warm up
    t0 = time.perf_counter()
    acquired.predict(FastaReader(io.BytesIO(data), name=path.name), PredictParams(species=species))
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", default="klebsiella")
    args = parser.parse_args()
    genomes = find_genomes()
    if not genomes:
        print("kleborate-examples is not installed (apt-get install kleborate-examples); nothing to measure.")
        return 0
    import boto3

    api_port, emulator_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="amr-service-bench-") as tmp:
        env = stack_environment(api_port, emulator_port, Path(tmp, "state"),
                                AMR_ADMIN_PASSWORD=ADMIN_PASSWORD, POWERTOOLS_LOG_LEVEL="WARNING")
        log = open(Path(tmp, "stack.log"), "wb")
        stack = subprocess.Popen([sys.executable, "-m", "local.stack"], cwd=ROOT, env=env, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        api = f"http://127.0.0.1:{api_port}"
        try:
            wait("the local stack", lambda: http("GET", f"{api}/health")["status"] == "ok", 180)
            token = http("POST", f"{api}/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})["access_token"]
            s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{emulator_port}", region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
            names: dict[str, Path] = {}
            jobs: list[dict[str, Any]] = []
            for path in genomes:  # one at a time: each Lambda invocation has its own CPU
                name = genome_name(path)
                with lzma.open(path, "rb") as fh:
                    body = fh.read()
                s3.put_object(Bucket="amr-local-uploads", Key=f"inbox/admin/{name}.fna", Body=body,
                              Metadata={"species": args.species})
                names[f"{name}.fna"] = path

                def finished(expected: int = len(names)) -> list[dict[str, Any]] | None:
                    listed = http("GET", f"{api}/jobs?limit=100", token=token)["jobs"]
                    done = [j for j in listed if j["status"] in ("Completed", "Error")]
                    return listed if len(done) == expected else None

                jobs = wait(f"{name} to finish", finished, 600)
            print(f"{'genome':<16} {'benchmark s':>11} {'service s':>10} {'ratio':>6}")
            for job in sorted(jobs, key=lambda j: j["job_name"]):
                if job["status"] != "Completed":
                    print(f"{job['job_name']:<16} ended in {job['status']}: {job['error']}")
                    continue
                seconds = http("GET", f"{api}/jobs/{job['job_id']}/results", token=token)["stats"]["seconds"]
                bench = in_process_seconds(names[job["job_name"]], args.species)
                print(f"{Path(job['job_name']).stem:<16} {bench:>11.2f} {seconds:>10.2f} {seconds / bench:>5.2f}x")
        finally:
            os.killpg(stack.pid, signal.SIGTERM)
            stack.wait(timeout=60)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
