"""Environment shared by the benchmarks: the `test` stage on in-process moto.

Imported first by each benchmark so `chalicelib` binds to test names and fake credentials.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AMR_STAGE", "test")
os.environ.setdefault("AMR_JWT_SECRET", "bench-secret-" + "x" * 40)
for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(key, "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
