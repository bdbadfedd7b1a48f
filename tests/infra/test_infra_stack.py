"""The `infra/` stack created through (moto's) CloudFormation, and the service run on it.

The stack is the merge template's own resources (tables, buckets, secret; Chalice's
functions and API are not part of it). The smoke flow then runs the real app against
exactly what the stack created, as the `dev` stage would in AWS: the JWT secret comes
from Secrets Manager (GenerateSecretString), names come from the stack. Every AWS call
the flow makes is recorded per function (API, prediction, maintenance) and checked
against that function's IAM policy in `.chalice/`, so a policy that is too narrow for
the code fails here rather than in a deployment.

moto 5.2's CloudFormation does not implement AWS::S3::BucketPolicy,
AWS::SecretsManager::Secret, a table's TimeToLiveSpecification nor a bucket's public
access block, ownership and lifecycle; `complete_stack` applies exactly those template
properties through the service APIs (the secret value
from Secrets Manager's own generator with the template's GenerateSecretString options).
"""
from __future__ import annotations

import json
import os
import random
from contextlib import contextmanager
from typing import Any, Iterator

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws

import cfn_helpers as cfn
from scripts.bootstrap_admin import OUTPUT_ENV
from chalicelib.core import aws, keys, tables as models
from chalicelib.core.clock import FakeClock
from chalicelib.prediction.resfinder_db import load_db
from chalicelib.core.settings import get_settings, reset_settings

STAGE = "dev"
STACK = f"amr-{STAGE}"
KPC = "blaKPC-2_1_AY034847"
# moto warns for each resource type its CloudFormation skips; complete_stack covers them.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set variables and rebind every cache that read them; restore both afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    _rebind()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _rebind()


def _rebind() -> None:
    reset_settings()
    aws.reset_clients()
    keys.reset_secret()
    models.bind_models(get_settings())


@pytest.fixture
def stack(fake_clock: FakeClock) -> Iterator[dict[str, Any]]:
    """The infra stack in moto, with the process configured as its `dev` stage."""
    template = cfn.infra_resources_only(cfn.merge_template())
    with mock_aws():
        client = boto3.client("cloudformation", region_name=cfn.REGION)
        client.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": "Stage", "ParameterValue": STAGE}],
        )
        described = client.describe_stacks(StackName=STACK)["Stacks"][0]
        assert described["StackStatus"] == "CREATE_COMPLETE"
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
        complete_stack(template, cfn.context(STAGE))
        env = {OUTPUT_ENV[k]: v for k, v in outputs.items() if k in OUTPUT_ENV}
        env.update(AMR_STAGE=STAGE, AMR_JWT_SECRET_NAME=f"amr-{STAGE}/jwt-secret")
        with _environment(env):
            yield {"outputs": outputs, "env": env, "template": template}


def complete_stack(template: dict[str, Any], ctx: dict[str, str]) -> None:
    """Apply what moto's CloudFormation skips, from the template's own properties."""
    resources = template["Resources"]
    names = {}
    for logical, resource in resources.items():
        props = resource["Properties"]
        if resource["Type"] == "AWS::S3::Bucket":
            names[logical] = cfn.resolve(props["BucketName"], ctx)
            ctx[f"{logical}.Arn"] = f"arn:aws:s3:::{names[logical]}"
        elif resource["Type"] == "AWS::SQS::Queue":
            queue = cfn.resolve(props["QueueName"], ctx)
            ctx[f"{logical}.Arn"] = f"arn:aws:sqs:{cfn.REGION}:{cfn.ACCOUNT}:{queue}"
    s3 = boto3.client("s3", region_name=cfn.REGION)
    for resource in resources.values():
        props = cfn.resolve(resource["Properties"], {**ctx, **names})
        if resource["Type"] == "AWS::S3::Bucket":
            bucket = props["BucketName"]
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
            s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=props["OwnershipControls"])
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket,
                LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]},
            )
        elif resource["Type"] == "AWS::SecretsManager::Secret":
            sm = boto3.client("secretsmanager", region_name=cfn.REGION)
            value = sm.get_random_password(**props["GenerateSecretString"])["RandomPassword"]
            sm.create_secret(Name=props["Name"], SecretString=value, Description=props["Description"])
        elif resource["Type"] == "AWS::DynamoDB::Table" and "TimeToLiveSpecification" in props:
            boto3.client("dynamodb", region_name=cfn.REGION).update_time_to_live(
                TableName=props["TableName"], TimeToLiveSpecification=props["TimeToLiveSpecification"]
            )


def apply_bucket_policies(template: dict[str, Any], ctx: dict[str, str]) -> None:
    """Only for inspection: moto ignores Conditions, so the TLS-only Deny would deny all."""
    s3 = boto3.client("s3", region_name=cfn.REGION)
    names = {k: cfn.resolve(r["Properties"]["BucketName"], ctx) for k, r in template["Resources"].items()
             if r["Type"] == "AWS::S3::Bucket"}
    arns = {f"{k}.Arn": f"arn:aws:s3:::{v}" for k, v in names.items()}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::S3::BucketPolicy":
            props = cfn.resolve(resource["Properties"], {**ctx, **names, **arns})
            s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    out: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return out


def test_stack_creates_the_tables_the_models_use(stack: dict[str, Any]) -> None:
    ddb = boto3.client("dynamodb", region_name=cfn.REGION)
    expected = models.table_definitions()  # now bound to the stack's names
    assert set(expected) == {stack["env"][v] for v in OUTPUT_ENV.values() if v.endswith("_TABLE")}
    for name, want in expected.items():
        table = ddb.describe_table(TableName=name)["Table"]
        assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {
            (k["AttributeName"], k["KeyType"]) for k in want["key_schema"]
        }
        got = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
        assert got == {i["index_name"] for i in want["global_secondary_indexes"]}
    ttl = ddb.describe_time_to_live(TableName=stack["env"]["AMR_JOBS_TABLE"])["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"


def test_stack_creates_private_encrypted_buckets_with_lifecycle(stack: dict[str, Any]) -> None:
    s3 = boto3.client("s3", region_name=cfn.REGION)
    for var in ("AMR_UPLOAD_BUCKET", "AMR_RESULTS_BUCKET", "AMR_ARCHIVE_BUCKET"):
        bucket = stack["env"][var]
        assert bucket.startswith(f"amr-{STAGE}-") and bucket.endswith(cfn.ACCOUNT)
        enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values())
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert any("AbortIncompleteMultipartUpload" in r for r in rules)
    apply_bucket_policies(stack["template"], cfn.context(STAGE))
    for var in ("AMR_UPLOAD_BUCKET", "AMR_RESULTS_BUCKET", "AMR_ARCHIVE_BUCKET"):
        bucket = stack["env"][var]
        statement = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]
        assert statement["Effect"] == "Deny" and statement["Condition"]["Bool"]["aws:SecureTransport"] == "false"


def test_generated_secret_is_what_the_service_signs_with(stack: dict[str, Any]) -> None:
    value = boto3.client("secretsmanager", region_name=cfn.REGION).get_secret_value(
        SecretId=stack["env"]["AMR_JWT_SECRET_NAME"]
    )["SecretString"]
    assert len(value) >= keys.MIN_SECRET_LENGTH
    assert not get_settings().is_local
    assert keys.service_secret() == value.encode()


# --- smoke flow with per-function IAM checks ------------------------------------------

class CallLog:
    """Every AWS API call, tagged with the function (policy) that would make it."""

    def __init__(self) -> None:
        self.function: str | None = "policy-api.json"
        self.calls: list[tuple[str, str, str, dict[str, Any]]] = []

    @contextmanager
    def acting_as(self, policy_file: str | None) -> Iterator[None]:
        """Calls in the block are that function's; None: the test's own (not recorded)."""
        previous, self.function = self.function, policy_file
        try:
            yield
        finally:
            self.function = previous


@pytest.fixture
def call_log(monkeypatch: pytest.MonkeyPatch) -> CallLog:
    log = CallLog()
    original = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if log.function is not None:
            log.calls.append((log.function, client.meta.service_model.service_name, operation, params))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return log


def required_permissions(service: str, operation: str, params: dict[str, Any], secret_arn: str) -> list[tuple[str, str]]:
    """The IAM (action, resource) pairs AWS would check for one API call."""
    table = lambda name: f"arn:aws:dynamodb:{cfn.REGION}:{cfn.ACCOUNT}:table/{name}"  # noqa: E731
    obj = lambda bucket, key: f"arn:aws:s3:::{bucket}/{key}"  # noqa: E731
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
            return [
                (f"dynamodb:{kinds[kind]}", table(body["TableName"]))
                for item in params["TransactItems"] for kind, body in item.items()
            ]
        if operation == "TransactGetItems":
            return [("dynamodb:GetItem", table(i["Get"]["TableName"])) for i in params["TransactItems"]]
        if operation in {"BatchWriteItem", "BatchGetItem"}:
            return [(f"dynamodb:{operation}", table(name)) for name in params["RequestItems"]]
        if operation in {"Query", "Scan"} and params.get("IndexName"):
            return [(f"dynamodb:{operation}", table(params["TableName"]) + "/index/" + params["IndexName"])]
        return [(f"dynamodb:{operation}", table(params["TableName"]))]
    if service == "s3":
        bucket = params.get("Bucket", "")
        if operation in {"ListObjectsV2", "ListObjects", "HeadBucket"}:
            return [("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
        if operation == "DeleteObjects":
            return [("s3:DeleteObject", obj(bucket, o["Key"])) for o in params["Delete"]["Objects"]]
        if operation == "CopyObject":
            src = params["CopySource"]
            src_bucket, src_key = (src["Bucket"], src["Key"]) if isinstance(src, dict) else src.split("/", 1)
            return [("s3:GetObject", obj(src_bucket, src_key)), ("s3:PutObject", obj(bucket, params["Key"]))]
        action = {
            "HeadObject": "GetObject", "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
            "CompleteMultipartUpload": "PutObject",
        }.get(operation, operation)
        return [(f"s3:{action}", obj(bucket, params["Key"]))]
    if service == "secretsmanager" and operation == "GetSecretValue":
        return [("secretsmanager:GetSecretValue", secret_arn)]
    if service == "ses" and operation == "SendEmail":
        return [("ses:SendEmail", f"arn:aws:ses:{cfn.REGION}:{cfn.ACCOUNT}:identity/{params['Source'].split('@')[-1]}")]
    raise AssertionError(f"unexpected AWS call {service}.{operation}: add it to the policy and this map")


def _keys(bucket: str, log: CallLog) -> list[str]:
    with log.acting_as(None):
        listed = boto3.client("s3", region_name=cfn.REGION).list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def genome_with_kpc() -> bytes:
    """Random DNA with the KPC-2 allele of the installed ResFinder database inside."""
    allele = load_db().alleles[KPC].sequence
    rng = random.Random(7)
    left, right = "".join(rng.choices("ACGT", k=3000)), "".join(rng.choices("ACGT", k=3000))
    return f">contig1\n{left}{allele}{right}\n".encode()


def test_register_submit_predict_archive_delete_within_each_functions_policy(
    stack: dict[str, Any], fake_clock: FakeClock, call_log: CallLog
) -> None:
    from chalice.test import Client

    from app import app

    env = stack["env"]
    with Client(app, stage_name=STAGE) as client:
        reply = client.http.post(
            "/auth/register",
            headers={"Content-Type": "application/json"},
            body=json.dumps({"username": "smoke", "password": "correct-horse-1", "email": "smoke@example.org"}),
        )
        assert reply.status_code == 201, reply.body

        def login() -> dict[str, str]:
            reply = client.http.post(
                "/auth/login", headers={"Content-Type": "application/json"},
                body=json.dumps({"username": "smoke", "password": "correct-horse-1"}),
            )
            assert reply.status_code == 200, reply.body
            return {"Authorization": f"Bearer {reply.json_body['access_token']}", "Content-Type": "application/json"}

        auth = login()

        reply = client.http.post("/jobs", headers=auth, body=json.dumps({"job_name": "smoke", "filename": "g.fa"}))
        assert reply.status_code == 201, reply.body
        job_id, key = reply.json_body["job"]["job_id"], reply.json_body["upload"]["fields"]["key"]
        with call_log.acting_as(None):  # the user's upload through the presigned POST
            boto3.client("s3", region_name=cfn.REGION).put_object(Bucket=env["AMR_UPLOAD_BUCKET"], Key=key, Body=genome_with_kpc())

        with call_log.acting_as("policy-prediction.json"):
            client.lambda_.invoke("on_upload", client.events.generate_s3_event(env["AMR_UPLOAD_BUCKET"], key))

        reply = client.http.get(f"/jobs/{job_id}", headers=auth)
        assert reply.json_body["status"] == "Completed", reply.json_body
        reply = client.http.get(f"/jobs/{job_id}/results", headers=auth)
        assert reply.status_code == 200, reply.body
        assert [g["allele"] for g in reply.json_body["genes"]] == [KPC]

        fake_clock.advance(seconds=8 * 86400)  # past archiving.min_age_days
        with call_log.acting_as("policy-maintenance.json"):
            client.lambda_.invoke("maintenance_archive", client.events.generate_cw_event("aws.events", "Scheduled Event", {}, []))
            client.lambda_.invoke("maintenance_purge", client.events.generate_cw_event("aws.events", "Scheduled Event", {}, []))
            client.lambda_.invoke("maintenance_stalled", client.events.generate_cw_event("aws.events", "Scheduled Event", {}, []))
        auth = login()  # a week later: the first token has expired
        assert client.http.get(f"/jobs/{job_id}", headers=auth).json_body["status"] == "Archived"
        assert _keys(env["AMR_ARCHIVE_BUCKET"], call_log), "archiving copied the job's files"

        assert client.http.delete(f"/jobs/{job_id}", headers=auth).status_code == 204
        assert not _keys(env["AMR_ARCHIVE_BUCKET"], call_log) and not _keys(env["AMR_UPLOAD_BUCKET"], call_log)

    call_log.function = None
    secret_arn = boto3.client("secretsmanager", region_name=cfn.REGION).describe_secret(
        SecretId=env["AMR_JWT_SECRET_NAME"]
    )["ARN"]
    ctx = cfn.context(STAGE, JwtSecret=secret_arn)
    policies = {name: cfn.statements(cfn.policy(name), ctx) for name in cfn.ALLOWED_POLICY_FILES}
    seen = {name: 0 for name in policies}
    denied = []
    for function, service, operation, params in call_log.calls:
        if service in {"cloudformation", "sts"}:
            continue
        seen[function] += 1
        for action, resource in required_permissions(service, operation, params, secret_arn):
            if not cfn.allows(policies[function], action, resource):
                denied.append(f"{function}: {action} on {resource} ({service}.{operation})")
    assert all(seen.values()), f"every function made AWS calls in the flow: {seen}"
    assert not denied, "\n".join(sorted(set(denied)))


def test_bootstrap_admin_writes_the_first_admin_into_the_stacks_tables(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    from chalicelib.accounts import users

    spec = importlib.util.spec_from_file_location("bootstrap_admin", cfn.ROOT / "scripts" / "bootstrap_admin.py")
    script = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(script)  # type: ignore[union-attr]
    monkeypatch.setenv("AMR_ADMIN_PASSWORD", "a-long-admin-password")
    args = ["--stack", STACK, "--username", "root", "--email", "ops@example.org", "--region", cfn.REGION]

    assert script.main(args) == 0
    assert "created" in capsys.readouterr().out
    admin = users.get_user_by_username("root")
    assert admin is not None and admin.role == "admin"
    assert get_settings().users_table == stack["env"]["AMR_USERS_TABLE"]
    assert script.main(args) == 0  # idempotent
    assert "exists already" in capsys.readouterr().out
