"""Legacy import and backup round trip at scale (design §16), on in-process moto.

Builds an earlier-service database of 10,000 jobs (every awkward row of the tests
included), imports it, imports it again (idempotent), then exports the stage, restores
it into a fresh stage and prints the import reports, times and the backup manifest.
    python bench/migration.py [--jobs 10000] [--shape rows|columns]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import benchenv  # noqa: F401,E402  (must precede chalicelib imports)

from moto import mock_aws  # noqa: E402

from chalicelib.core import aws, tables  # noqa: E402
from chalicelib.core.settings import get_settings, reset_settings  # noqa: E402
from local.emulator import serialise_writes  # noqa: E402
from local.provision import provision  # noqa: E402
from tests import legacy_db  # noqa: E402
from tools import backup, legacy_import, stage  # noqa: E402

COPY = {"AMR_JOBS_TABLE": "amr-copy-jobs", "AMR_USERS_TABLE": "amr-copy-users", "AMR_EVENTS_TABLE": "amr-copy-events",
        "AMR_COUNTERS_TABLE": "amr-copy-counters", "AMR_UPLOAD_BUCKET": "amr-copy-uploads",
        "AMR_RESULTS_BUCKET": "amr-copy-results", "AMR_ARCHIVE_BUCKET": "amr-copy-archive"}
AWKWARD_JOBS = 14  # the awkward job rows `legacy_db.build` always adds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--shape", choices=("rows", "columns"), default="rows")
    args = parser.parse_args()
    serialise_writes()
    stage.quiet_metrics()
    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        root = Path(tmp)
        started = time.perf_counter()
        legacy = legacy_db.build(root / "legacy" / "legacy.db", shape=args.shape,
                                 bulk_jobs=args.jobs - AWKWARD_JOBS, bulk_users=200)
        print(f"built a legacy database of {args.jobs:,} jobs ({args.shape} parameters) in {time.perf_counter() - started:.1f} s\n")
        aws.reset_clients()
        settings = provision()
        for run in ("first run", "second run"):
            report = legacy_import.run(legacy.path, settings=settings, allow_admins=True)
            print(f"== {run}\n{legacy_import.render(report, legacy.path, settings)}\n")

        exported = backup.export(root / "backup", settings)
        print(f"== export\n{exported.render()}\n")
        os.environ.update(COPY)
        reset_settings()
        aws.reset_clients()
        copy = get_settings()
        tables.bind_models(copy)
        restored = backup.restore(root / "backup", copy, create_missing=True)
        print(f"== restore into a fresh stage\n{restored.render()}\n")
        manifest = json.loads((root / "backup" / backup.MANIFEST).read_text())
        again = backup.export(root / "again", copy)
        same = all(again.tables[r]["items"] == e["items"] for r, e in manifest["tables"].items()) and all(
            again.buckets[r]["objects"] == e["objects"] for r, e in manifest["buckets"].items())
        print(f"re-export of the restored stage: counts {'identical' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
