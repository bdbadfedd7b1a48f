"""Build the deployable artifact of one stage: `chalice package` merged with `infra/`.

    python scripts/package.py --stage dev [--out build/dev]

writes OUT/sam.json (SAM template: Chalice's functions, API and roles merged with the
tables, buckets, secret and API throttling of `infra/resources.json`) and
OUT/deployment.zip (the code of every function).

Why a staging copy (OUT/project) instead of packaging the work tree: the artifact needs
files that must not be committed — the mappy wheel built from source for Lambda's glibc
(`vendor/`, which chalice copies into the zip as-is) and the ResFinder database from
Debian's `resfinder-db` (`chalicelib/data/resfinder-db/`, read at /var/task/... in
Lambda through AMR_RESFINDER_DB), the PointFinder database from Debian's
`resfinder-example` (`chalicelib/data/pointfinder-db/`, through AMR_POINTFINDER_DB; copied
as Debian ships it, gzip-compressed files included, which the loader reads), the minimap2
indexes built from them (`chalicelib/data/indexes/`, through AMR_INDEX_DIR: a cold container
loads them instead of building them) — and `requirements.txt` minus mappy, so chalice does
not try to build mappy itself.

Why the S3 patch: chalice 1.34 refuses to `package` an app with `@app.on_s3_event`
(CloudFormation cannot add notifications to a bucket that exists outside the stack). Our
upload bucket is created by the same stack, so the S3 event is emitted as a SAM `S3`
event on the function with `Bucket: {Ref: UploadBucket}`; SAM adds the bucket's
notification configuration and the invoke permission, in the right order. The functions
find the bucket by its name (not a Ref), which keeps the template free of cycles.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = ROOT / "infra" / "resources.json"
DEPLOYED_STAGES = ("dev", "prod")
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
DB_TARGET = Path("chalicelib") / "data" / "resfinder-db"
DB_FILES = ("config", "phenotypes.txt", "antibiotic_classes.txt", "VERSION")
DB_LICENSE = Path("/usr/share/doc/resfinder-db/copyright")
POINT_DB_TARGET = Path("chalicelib") / "data" / "pointfinder-db"
INDEX_TARGET = Path("chalicelib") / "data" / "indexes"
POINT_DB_DEFAULT = "/usr/share/doc/resfinder/examples/db_pointfinder"
POINT_DB_LICENSE = Path("/usr/share/doc/resfinder-example/copyright")
#: Per species: what the loader reads (each also as NAME.gz).
POINT_SPECIES_FILES = ("genes.txt", "RNA_genes.txt", "phenotypes.txt")
#: Logical id of the bucket whose notifications `@app.on_s3_event` handlers receive.
UPLOAD_BUCKET_ID = "UploadBucket"


def run_wheel_build(wheel_dir: Path) -> Path:
    """Build (or reuse) the mappy manylinux wheel; returns its path."""
    env = dict(os.environ, PY=sys.executable)
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_mappy_wheel.sh"), str(wheel_dir)],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


def stage_project(project: Path) -> None:
    """Copy what Lambda runs (app.py, chalicelib/, .chalice config and policies).

    `.chalice/deployments/` (chalice's cache of downloaded dependencies) survives reruns.
    """
    for name in ("app.py", "requirements.txt"):
        (project / name).unlink(missing_ok=True)
    for name in ("chalicelib", "vendor"):
        shutil.rmtree(project / name, ignore_errors=True)
    for stale in (project / ".chalice").glob("*.json"):
        stale.unlink()
    (project / ".chalice").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "app.py", project / "app.py")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "data")
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=ignore)
    for item in (ROOT / ".chalice").glob("*.json"):
        shutil.copy2(item, project / ".chalice" / item.name)
    bake_schedule_rates(project)
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    kept = [line for line in lines if not line.lower().startswith("mappy")]
    (project / "requirements.txt").write_text("\n".join(kept) + "\n")


def bake_schedule_rates(project: Path) -> None:
    """Fix the maintenance rates of this build from the (validated) lifecycle policy, so
    the deployed functions need not parse the policy at import to name their rates.

    A separate interpreter: importing chalicelib here would cache this process's
    settings before the stage's are in place.
    """
    code = (
        "import json; from chalicelib.jobs import policy; from chalicelib.maintenance import schedules; "
        "p = policy.get_policy(); "
        "print(json.dumps({'stalled': schedules.stalled_rate_minutes(p), 'cleanup': schedules.cleanup_rate_minutes(p)}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:  # e.g. an invalid lifecycle policy: stop the build, say why
        raise SystemExit(f"cannot compute schedule rates: {done.stderr.strip().splitlines()[-1]}")
    (project / "chalicelib" / "maintenance" / "schedule_rates.json").write_text(done.stdout)


def vendor_wheel(wheel: Path, project: Path) -> None:
    """Unpack the wheel into vendor/ (module + dist-info; scripts are not needed)."""
    vendor = project / "vendor"
    vendor.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not name.split("/", 1)[0].endswith(".data"):
                zf.extract(name, vendor)


def copy_database(project: Path, source: Path) -> Path:
    """Copy the files the loader reads (config, listed .fsa, phenotype tables) and check them."""
    target = project / DB_TARGET
    target.mkdir(parents=True, exist_ok=True)
    if not (source / "config").is_file():
        raise SystemExit(f"ResFinder database not found at {source} (apt-get install resfinder-db)")
    for name in DB_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    for fsa in source.glob("*.fsa"):
        shutil.copy2(fsa, target / fsa.name)
    if DB_LICENSE.is_file():
        shutil.copy2(DB_LICENSE, target / "COPYRIGHT")
    sys.path.insert(0, str(project))  # the staged code: chalice imports the app from here too
    from chalicelib.prediction.resfinder_db import load_db  # the Lambda's own loader proves the copy complete

    db = load_db(target)
    print(f"ResFinder database {db.version}: {len(db.alleles)} alleles", file=sys.stderr)
    return target


def copy_typing_database(project: Path, source: Path) -> Path:
    """Copy the typing data (``make typing-db``) to ``chalicelib/data/typing-db``, where the
    Lambda's loader looks first, and load it from the copy."""
    if not (source / "MANIFEST.json").is_file():
        raise SystemExit(f"typing data not found at {source} (make typing-db)")
    target = project / "chalicelib" / "data" / "typing-db"
    shutil.copytree(source, target, dirs_exist_ok=True)
    from chalicelib.prediction import typing_db  # the Lambda's own loader proves the copy complete

    db = typing_db.load_db(target)
    print(f"typing data: {len(db.schemes)} MLST schemes, {len(db.replicons)} replicons", file=sys.stderr)
    return target


def copy_point_database(project: Path, source: Path) -> Path:
    """Copy the PointFinder files the loader reads (config, VERSION, per species the gene
    lists, gene FASTA files and phenotypes.txt) and load every species from the copy."""
    target = project / POINT_DB_TARGET
    if not (source / "config").is_file():
        raise SystemExit(f"PointFinder database not found at {source} (apt-get install resfinder-example)")
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config", "VERSION"):
        shutil.copy2(source / name, target / name)
    for folder in (p for p in source.iterdir() if p.is_dir()):
        wanted = set(POINT_SPECIES_FILES)
        genes = folder / "genes.txt"
        if genes.is_file():
            wanted |= {f"{line.strip()}.fsa" for line in genes.read_text().splitlines() if line.strip()}
        for f in folder.iterdir():
            if f.name in wanted or f.name.removesuffix(".gz") in wanted:
                (target / folder.name).mkdir(exist_ok=True)
                shutil.copy2(f, target / folder.name / f.name)
    if POINT_DB_LICENSE.is_file():
        shutil.copy2(POINT_DB_LICENSE, target / "COPYRIGHT")
    from chalicelib.prediction import pointfinder_db  # the Lambda's own loader proves the copy complete

    db = pointfinder_db.load_db(target)
    genes = sum(len(db.load(s).genes) for s in db.species)
    print(f"PointFinder database {db.version}: {len(db.species)} species, {genes} genes", file=sys.stderr)
    return target


def _s3_event_as_sam_event(generator: Any, resource: Any, template: dict[str, Any]) -> None:
    """Replacement for chalice's SAM S3-notification generator (see module docstring)."""
    from chalice.package import to_cfn_resource_name

    expected = os.environ["AMR_PACKAGE_UPLOAD_BUCKET"]
    if resource.bucket != expected:
        raise RuntimeError(
            f"@app.on_s3_event on bucket {resource.bucket!r}: only the upload bucket "
            f"({expected!r}, {UPLOAD_BUCKET_ID} in infra/) can be wired by this template"
        )
    function_id = to_cfn_resource_name(resource.lambda_function.resource_name)
    properties: dict[str, Any] = {"Bucket": {"Ref": UPLOAD_BUCKET_ID}, "Events": list(resource.events)}
    rules = [
        {"Name": name, "Value": value}
        for name, value in (("prefix", resource.prefix), ("suffix", resource.suffix))
        if value
    ]
    if rules:
        properties["Filter"] = {"S3Key": {"Rules": rules}}
    events = template["Resources"][function_id]["Properties"].setdefault("Events", {})
    events[to_cfn_resource_name(resource.resource_name)] = {"Type": "S3", "Properties": properties}


def prebuild_indexes(project: Path) -> None:
    """Write the minimap2 indexes a container would build at its first job (the alleles,
    alone and with the typing references of the shipped typing data, every species'
    PointFinder genes, reads mode with and without a species) into
    chalicelib/data/indexes, with the service's own code on the staged databases, so they
    are identical to what it would build (a digest names each; AMR_INDEX_DIR in Lambda)."""
    target = project / INDEX_TARGET
    shutil.rmtree(target, ignore_errors=True)
    code = (
        "from chalicelib.prediction import acquired, pointfinder, pointfinder_db, resfinder_db, typing_db\n"
        "from chalicelib.prediction.reads.predictor import read_index\n"
        "db = resfinder_db.load_db(); acquired.get_aligner(db); read_index(db)\n"
        "acquired.get_aligner(db, typing_db.load_db())\n"
        "pdb = pointfinder_db.load_db()\n"
        "for key in pdb.species:\n"
        "    species = pdb.load(key); pointfinder._aligner(species); read_index(db, species)\n"
    )
    env = dict(
        os.environ,
        AMR_INDEX_DIR=str(target),
        AMR_INDEX_WRITE="1",
        AMR_RESFINDER_DB=str(project / DB_TARGET),
        AMR_POINTFINDER_DB=str(project / POINT_DB_TARGET),
        AMR_TYPING_DB=str(project / "chalicelib" / "data" / "typing-db"),
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cannot prebuild the indexes: {done.stderr.strip()[-500:]}")
    files = list(target.glob("*.mmi"))
    print(f"indexes:  {len(files)} prebuilt, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB", file=sys.stderr)


def chalice_package(project: Path, stage: str, out: Path) -> None:
    """Run `chalice package --merge-template infra/resources.json` with the S3 patch."""
    from chalice import package as chalice_pkg
    from chalice.cli import cli

    for key in [k for k in os.environ if k.startswith("AMR_")]:
        del os.environ[key]  # the app is imported here: bind it to the packaged stage only
    os.environ["AMR_STAGE"] = stage
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if str(project) not in sys.path:
        sys.path.insert(0, str(project))
    from chalicelib.core.settings import load_settings

    os.environ["AMR_PACKAGE_UPLOAD_BUCKET"] = load_settings({"AMR_STAGE": stage}).upload_bucket
    chalice_pkg.SAMTemplateGenerator._generate_s3bucketnotification = _s3_event_as_sam_event  # type: ignore[method-assign]
    if out.exists():
        for name in ("sam.json", "deployment.zip"):
            (out / name).unlink(missing_ok=True)
    args = [
        "--project-dir",
        str(project),
        "package",
        "--stage",
        stage,
        "--merge-template",
        str(MERGE_TEMPLATE),
        str(out),
    ]
    cli.main(args=args, obj={}, standalone_mode=False)


def finalize_template(template_path: Path, stage: str) -> None:
    """Pin the stage and repair what chalice 1.34 gets wrong in SAM output."""
    template = json.loads(template_path.read_text())
    pin_stage(template, stage)
    fix_log_group_names(template)
    wire_table_streams(template)
    bake_object_expiry(template)
    template_path.write_text(json.dumps(template, indent=2) + "\n")


def bake_object_expiry(template: dict[str, Any]) -> None:
    """Bucket lifecycle rules from the lifecycle policy seen at packaging (design §23): a rule
    never deletes an object before the policy's purge would."""
    code = (
        "import json; from chalicelib.jobs import policy; "
        "print(json.dumps(policy.object_expiry_days(policy.get_policy())))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:  # a separate interpreter, as for the schedule rates
        raise SystemExit(f"cannot compute object expiry: {done.stderr.strip().splitlines()[-1]}")
    days = json.loads(done.stdout)
    for name in ("UploadBucket", "ResultsBucket", "ArchiveBucket"):
        for rule in template["Resources"][name]["Properties"]["LifecycleConfiguration"]["Rules"]:
            if rule.get("Prefix") in days:
                rule["ExpirationInDays"] = days[rule["Prefix"]]


#: Tables whose stream feeds a notifier function (design §22) -> their resource in infra/.
STREAM_TABLES = {"jobs": "JobsTable", "batches": "BatchesTable"}


def wire_table_streams(template: dict[str, Any]) -> None:
    """Point each DynamoDB event at its table's `StreamArn` from infra/: the app names a
    placeholder ARN (`chalicelib.notifications.wiring`), since a stream's ARN exists only
    once its table does."""
    for resource in template["Resources"].values():
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") != "DynamoDB" or not isinstance(event["Properties"].get("Stream"), str):
                continue
            table = event["Properties"]["Stream"].split(":table/", 1)[1].split("/", 1)[0]
            kind = table.rsplit("-", 1)[-1]
            if kind not in STREAM_TABLES:
                raise RuntimeError(f"@app.on_dynamodb_record on {table}: no stream of that table in infra/")
            event["Properties"]["Stream"] = {"Fn::GetAtt": [STREAM_TABLES[kind], "StreamArn"]}


def pin_stage(template: dict[str, Any], stage: str) -> None:
    """The template of stage X can only be deployed as stage X (names match the config)."""
    param = template["Parameters"]["Stage"]
    param["Default"] = stage
    param["AllowedValues"] = [stage]
    param.pop("AllowedPattern", None)


def fix_log_group_names(template: dict[str, Any]) -> None:
    """Chalice names the API handler's log group `${ApiHandler}` but the function `APIHandler`.

    Every `/aws/lambda/${X}` log group must name an existing function, matched
    case-insensitively; anything else is an error rather than a broken deployment.
    """
    resources = template["Resources"]
    by_lower = {name.lower(): name for name in resources}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Logs::LogGroup":
            continue
        sub = resource["Properties"]["LogGroupName"]["Fn::Sub"]
        target = sub.removeprefix("/aws/lambda/${").removesuffix("}")
        actual = by_lower.get(target.lower())
        if actual is None or resources[actual].get("Type") != "AWS::Serverless::Function":
            raise RuntimeError(f"log group {name} names no function: {sub}")
        resource["Properties"]["LogGroupName"]["Fn::Sub"] = "/aws/lambda/${%s}" % actual


def precompile(zip_path: Path) -> int:
    """Add `__pycache__/*.pyc` for every module, compiled by this (the runtime's) Python.

    /var/task is read-only, so without them every cold start compiles each imported
    module from source. `unchecked-hash` pycs are used without comparing source mtimes,
    which the zip (chalice stamps 1980-01-01) does not carry faithfully anyway.
    Returns the number of pycs added.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
            zf.extractall(root)
        compileall.compile_dir(
            str(root),
            quiet=2,
            workers=1,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        known = {info.filename for info in infos}
        added = sorted(str(p.relative_to(root)) for p in root.rglob("*.pyc") if str(p.relative_to(root)) not in known)
        rebuilt = zip_path.with_suffix(".tmp")
        with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as out:
            for info in infos:
                out.writestr(info, (root / info.filename).read_bytes() if not info.is_dir() else b"")
            for name in added:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(info, (root / name).read_bytes())
        rebuilt.replace(zip_path)
    return len(added)


def artifact_sizes(zip_path: Path) -> tuple[int, int]:
    """(zipped, unzipped) bytes of the deployment package."""
    with zipfile.ZipFile(zip_path) as zf:
        unzipped = sum(info.file_size for info in zf.infolist())
    return zip_path.stat().st_size, unzipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev", choices=DEPLOYED_STAGES)
    parser.add_argument("--out", type=Path, help="output directory (default build/STAGE)")
    parser.add_argument("--wheel-dir", type=Path, default=ROOT / "build" / "wheels")
    parser.add_argument(
        "--db", type=Path, default=Path(os.environ.get("AMR_RESFINDER_DB") or "/usr/share/resfinder/db")
    )
    parser.add_argument("--point-db", type=Path, default=Path(os.environ.get("AMR_POINTFINDER_DB") or POINT_DB_DEFAULT))
    args = parser.parse_args(argv)
    out = (args.out or ROOT / "build" / args.stage).resolve()
    project = out / "project"

    wheel = run_wheel_build(args.wheel_dir)
    stage_project(project)
    vendor_wheel(wheel, project)
    copy_database(project, args.db)
    copy_point_database(project, args.point_db)
    copy_typing_database(project, ROOT / "build" / "typing-db")
    prebuild_indexes(project)
    chalice_package(project, args.stage, out)
    finalize_template(out / "sam.json", args.stage)
    pycs = precompile(out / "deployment.zip")

    zipped, unzipped = artifact_sizes(out / "deployment.zip")
    print(f"wheel:    {wheel.name}")
    print(f"pyc:      {pycs} modules precompiled for {sys.implementation.cache_tag}")
    print(f"template: {out / 'sam.json'}")
    print(f"artifact: {out / 'deployment.zip'} ({zipped / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped)")
    if unzipped > LAMBDA_UNZIPPED_LIMIT:
        print(f"error: unzipped size exceeds Lambda's limit of {LAMBDA_UNZIPPED_LIMIT} bytes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
