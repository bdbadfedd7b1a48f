"""The packaged stage (`scripts/package.py` = `make package`): template and artifact.

The template must pass cfn-lint and wire what Chalice alone cannot (the S3 event on the
bucket the same stack creates); the artifact must fit Lambda, carry a mappy that the
Lambda runtime's glibc can load plus the ResFinder database, and import and predict in a
clean interpreter that sees nothing but the unzipped artifact.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cfn_helpers as cfn
from cfn_helpers import Packaged

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
KPC = "blaKPC-2_1_AY034847"


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


def test_packaged_template_is_cfn_lint_clean(packaged: Packaged) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", str(packaged.out / "sam.json")],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_upload_bucket_events_reach_the_prediction_function(packaged: Packaged) -> None:
    functions = _functions(packaged.template)
    with_events = {
        name: event
        for name, fn in functions.items()
        for event in fn["Properties"].get("Events", {}).values()
        if event["Type"] == "S3"
    }
    assert list(with_events) == ["OnUpload"]
    props = with_events["OnUpload"]["Properties"]
    assert props["Bucket"] == {"Ref": "UploadBucket"}
    assert props["Events"] == ["s3:ObjectCreated:*"]
    # No Ref from a function (or its role) to the bucket: the bucket's notification already
    # depends on the function, so a Ref back would be a circular dependency.
    for name in ("OnUpload", "OnUploadRole"):
        resource = dict(packaged.template["Resources"][name])
        if name == "OnUpload":
            resource = {**resource, "Properties": {k: v for k, v in resource["Properties"].items() if k != "Events"}}
        assert '"UploadBucket"' not in json.dumps(resource)


def test_each_function_runs_with_its_own_policy_file(packaged: Packaged) -> None:
    resources = packaged.template["Resources"]
    kinds = {"APIHandler": "policy-api.json", "OnUpload": "policy-prediction.json",
             "SendPasswordReset": "policy-api.json", "OnJobChange": "policy-notifier.json",
             "OnBatchChange": "policy-notifier.json", "DeliverNotifications": "policy-notifier.json"}
    for name, fn in _functions(packaged.template).items():
        expected = kinds.get(name, "policy-maintenance.json" if name.startswith("Maintenance") else None)
        assert expected, f"unexpected function {name}"
        role = resources[fn["Properties"]["Role"]["Fn::GetAtt"][0]]
        (document,) = [p["PolicyDocument"] for p in role["Properties"]["Policies"]]
        assert document == cfn.policy(expected), name
        assert fn["Properties"]["Runtime"] == "python3.11"
        assert fn["Properties"]["Environment"]["Variables"]["AMR_STAGE"] == "dev"
    roles = [fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in _functions(packaged.template).values()]
    assert len(set(roles)) == len(roles), "one role per function"


def test_the_api_can_invoke_exactly_the_asynchronous_functions(packaged: Packaged) -> None:
    from chalicelib.core.settings import ASYNC_FUNCTIONS

    resources = packaged.template["Resources"]
    env = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    names = {"maintenance_run": "MaintenanceRun", "send_password_reset": "SendPasswordReset"}
    assert set(names) == set(ASYNC_FUNCTIONS)
    for function, variable in ASYNC_FUNCTIONS.items():
        target = names[function]
        assert env[variable] == {"Ref": target} and resources[target]["Type"] == "AWS::Serverless::Function"
        arn = f"arn:aws:lambda:{cfn.REGION}:{cfn.ACCOUNT}:function:amr-dev-{target}-AbC123"
        api = cfn.statements(cfn.policy("policy-api.json"), cfn.context("dev", JwtSecret="arn:aws:secretsmanager:us-east-1:123456789012:secret:x"))
        assert cfn.allows(api, "lambda:InvokeFunction", arn)
    gateway = resources["RestAPI"]["Properties"]["GatewayResponses"]
    assert gateway["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == 404
    body = json.loads(gateway["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"])
    assert body["error"]["code"] == "not_found"


def test_stage_is_pinned_and_log_groups_name_real_functions(packaged: Packaged) -> None:
    assert packaged.template["Parameters"]["Stage"]["AllowedValues"] == ["dev"]
    functions = _functions(packaged.template)
    groups = [r for r in packaged.template["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(groups) == len(functions)
    for group in groups:
        target = group["Properties"]["LogGroupName"]["Fn::Sub"].removeprefix("/aws/lambda/${").removesuffix("}")
        assert target in functions


def test_artifact_fits_lambda_and_holds_only_runtime_code(packaged: Packaged) -> None:
    files = [p for p in packaged.unzipped.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < LAMBDA_UNZIPPED_LIMIT
    top = {p.relative_to(packaged.unzipped).parts[0] for p in files}
    assert {"app.py", "chalicelib", "chalice", "mappy.cpython-311-x86_64-linux-gnu.so", "boto3", "botocore"} <= top
    assert not {"tests", "local", "bench", "scripts", "infra", "vendor", "requirements.txt"} & top
    db = packaged.unzipped / "chalicelib" / "data" / "resfinder-db"
    assert (db / "config").is_file() and (db / "phenotypes.txt").is_file() and list(db.glob("*.fsa"))
    assert (packaged.unzipped / "chalicelib" / "__pycache__").is_dir(), "precompiled for a read-only /var/task"


def test_artifact_ships_every_module_of_chalicelib(packaged: Packaged) -> None:
    """Subpackages included: `prediction/reads/` ships with the rest of `chalicelib/`."""
    source = Path(__file__).resolve().parents[2] / "chalicelib"
    modules = sorted(p.relative_to(source).as_posix() for p in source.rglob("*.py") if "__pycache__" not in p.parts)
    assert "prediction/reads/__init__.py" in modules and "prediction/reads/predictor.py" in modules
    shipped = packaged.unzipped / "chalicelib"
    assert [m for m in modules if not (shipped / m).is_file()] == []


def test_artifact_ships_the_web_app(packaged: Packaged) -> None:
    """The API function serves the browser app (design §15) from the artifact: every file."""
    source = Path(__file__).resolve().parents[2] / "chalicelib" / "gateway" / "static"
    shipped = packaged.unzipped / "chalicelib" / "gateway" / "static"
    names = sorted(p.name for p in source.iterdir() if p.is_file())
    assert "index.html" in names and "app.js" in names
    for name in names:
        assert (shipped / name).read_bytes() == (source / name).read_bytes(), name


def test_mappy_wheel_is_manylinux_for_lambdas_glibc(packaged: Packaged) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(packaged.wheel)], capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert 'consistent with the following platform tag: "manylinux_2_17_x86_64"' in text
    assert "manylinux_2_17_x86_64" in packaged.wheel.name and "cp311" in packaged.wheel.name


CLEAN_RUN = """
import json, os, random, sys
root = sys.argv[1]
sys.path.insert(0, root)
import app
from chalicelib.prediction import acquired as predictor
import mappy, boto3, botocore, pydantic_core
outside = sorted(
    name for name, mod in list(sys.modules.items())
    if getattr(mod, "__file__", None) and "site-packages" in mod.__file__
)
db = predictor.load_db()
rng = random.Random(3)
genome = "".join(rng.choices("ACGT", k=4000)) + db.alleles[sys.argv[2]].sequence + "".join(rng.choices("ACGT", k=4000))
import io
pred = predictor.predict_stream(io.BytesIO(f">c1\\n{genome}\\n".encode()), name="g.fa")
from chalicelib.jobs.params import PredictParams
from chalicelib.prediction import pointfinder_db
gyra = pointfinder_db.load_db().load("escherichia_coli").genes[0]
codon = 3 * 82  # gyrA S83L: TCG -> TTG
mutant = gyra.sequence[:codon] + "TTG" + gyra.sequence[codon + 3:]
point = predictor.predict_stream(
    io.BytesIO(f">c1\\n{genome[:4000]}{mutant}{genome[:4000]}\\n".encode()), name="g.fa",
    params=PredictParams(species="escherichia_coli"),
)
from chalicelib.prediction import mapindex
allele_index = mapindex.index_name(
    [(a.name, a.sequence) for a in db.alleles.values()], dict(n_threads=2, **predictor.MAPPY_OPTIONS)
)
print(json.dumps({
    "prebuilt": os.path.isfile(os.path.join(os.environ["AMR_INDEX_DIR"], allele_index)),
    "indexes": len(os.listdir(os.environ["AMR_INDEX_DIR"])),
    "routes": len(app.app.routes),
    "event_sources": len(app.app.event_sources),
    "from_artifact": [m.__file__.startswith(root) for m in (mappy, boto3, botocore, pydantic_core, app)],
    "outside": outside,
    "db": db.path,
    "genes": [g.allele for g in pred.genes],
    "point_db": pointfinder_db.load_db().path,
    "mutations": [m.name for m in point.point.mutations],
    "resistant": point.resistant,
}))
"""


def test_packaged_app_imports_and_predicts_in_a_clean_interpreter(packaged: Packaged) -> None:
    """-I -S: no site-packages, no PYTHON* variables; only the artifact on sys.path, as
    /var/task in Lambda (whose own boto3 we do not rely on: the artifact ships its SDK)."""
    root = str(packaged.unzipped)
    env = {
        "PATH": "/usr/bin:/bin",
        "AMR_STAGE": "dev",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AMR_RESFINDER_DB": str(Path(root, "chalicelib", "data", "resfinder-db")),
        "AMR_POINTFINDER_DB": str(Path(root, "chalicelib", "data", "pointfinder-db")),
        "AMR_INDEX_DIR": str(Path(root, "chalicelib", "data", "indexes")),
    }
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", CLEAN_RUN, root, KPC],
        env=env, cwd=root, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["prebuilt"] and report["indexes"] >= 13  # the prediction loaded the artifact's allele index
    assert report["routes"] >= 10 and report["event_sources"] >= 2
    assert all(report["from_artifact"]), report
    assert report["outside"] == []
    assert report["db"].startswith(root)
    assert report["genes"] == [KPC]
    assert report["point_db"].startswith(root)
    assert report["mutations"] == ["gyrA p.S83L"]
    assert {"ciprofloxacin", "nalidixic acid"} <= set(report["resistant"])
