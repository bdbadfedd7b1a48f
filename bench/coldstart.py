"""Cold-start cost of the packaged app: its import time against a framework baseline.

    python bench/coldstart.py [--artifact build/dev/deployment.zip] [--rounds 15]

Lambda's init phase is the import of `app` from /var/task. We unzip the artifact exactly
as shipped (precompiled .pyc included) and, in fresh isolated interpreters (-I -S, only
the artifact on sys.path, so nothing from this machine's venv leaks in), time:

- baseline: `import chalice.app, botocore.session, pynamodb.models, jwt` — the floor of
  any Chalice + PynamoDB + JWT app;
- app: `import app` — everything the service itself adds.

Rounds alternate baseline and app so machine load hits both alike; medians are
reported. Target: the app adds at most 50% to the baseline (ratio <= 1.5). The slowest
modules outside the baseline (python -X importtime) are listed to show where time goes.
Builds the artifact with scripts/package.py when it is missing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "import chalice.app, botocore.session, pynamodb.models, jwt"
APP = "import app"
TARGET_RATIO = 1.5
TIMER = (
    "import sys, time; sys.path.insert(0, {root!r}); t = time.perf_counter(); {stmt}; "
    "print((time.perf_counter() - t) * 1000)"
)


def lambda_env(root: Path) -> dict[str, str]:
    """The variables a deployed function sees that matter at import (no AWS calls happen)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AMR_STAGE": "dev",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AMR_RESFINDER_DB": str(root / "chalicelib" / "data" / "resfinder-db"),
        "POWERTOOLS_SERVICE_NAME": "amr",
        "POWERTOOLS_METRICS_NAMESPACE": "AMRService",
    }


def time_import(root: Path, stmt: str) -> float:
    """Milliseconds to run `stmt` in a fresh interpreter that sees only the artifact."""
    code = TIMER.format(root=str(root), stmt=stmt)
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        env=lambda_env(root), cwd=root, check=True, capture_output=True, text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def slowest_imports(root: Path, limit: int = 12) -> list[tuple[int, str]]:
    """Self time (us) of the slowest modules `import app` loads beyond the baseline."""
    def importtime(stmt: str) -> dict[str, int]:
        code = f"import sys; sys.path.insert(0, {str(root)!r}); {stmt}"
        err = subprocess.run(
            [sys.executable, "-I", "-S", "-X", "importtime", "-c", code],
            env=lambda_env(root), cwd=root, check=True, capture_output=True, text=True,
        ).stderr
        times: dict[str, int] = {}
        for line in err.splitlines():
            if line.startswith("import time:") and "|" in line and "self [us]" not in line:
                self_us, _, name = line.removeprefix("import time:").split("|")
                times[name.strip()] = int(self_us)
        return times

    base = importtime(BASELINE)
    extra = [(us, name) for name, us in importtime(APP).items() if name not in base]
    return sorted(extra, reverse=True)[:limit]


def sizes(artifact: Path) -> tuple[int, int]:
    with zipfile.ZipFile(artifact) as zf:
        return artifact.stat().st_size, sum(i.file_size for i in zf.infolist())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, default=ROOT / "build" / "dev" / "deployment.zip")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    if not args.artifact.is_file():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), "--stage", "dev"], check=True)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(args.artifact) as zf:
            zf.extractall(root)
        time_import(root, APP)  # warm the page cache once; not counted
        base, app = [], []
        for _ in range(args.rounds):
            base.append(time_import(root, BASELINE))
            app.append(time_import(root, APP))
        slow = slowest_imports(root)

    zipped, unzipped = sizes(args.artifact)
    b, a = statistics.median(base), statistics.median(app)
    ratio = a / b
    print(f"artifact          {args.artifact}")
    print(f"size              {zipped / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped (Lambda limit 250 MB)")
    print(f"baseline import   {b:.1f} ms median of {args.rounds}  ({BASELINE})")
    print(f"app import        {a:.1f} ms median of {args.rounds}  ({APP})")
    print(f"ratio             {ratio:.2f}  (target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")
    print("slowest modules beyond the baseline (self time):")
    for us, name in slow:
        print(f"  {us / 1000:7.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
