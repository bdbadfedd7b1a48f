"""`infra/` and `.chalice/` agree with the code: tables, buckets, lifecycle, secret, IAM.

Static checks, no packaging: the merge template's tables must be exactly what the
PynamoDB models create, its bucket rules must follow the lifecycle policy, and the
per-function IAM policies must name only the stage's resources and the actions the
code uses.
"""
from __future__ import annotations

import math
from typing import Any

import pytest
from pynamodb.attributes import TTLAttribute
from pynamodb.indexes import AllProjection, KeysOnlyProjection

import cfn_helpers as cfn
from chalicelib.core import keys, tables as models
from chalicelib.jobs.policy import get_policy
from chalicelib.core.settings import get_settings, load_settings

STAGE = "test"  # conftest's stage: settings name the tables amr-test-*


def _tables() -> dict[str, dict[str, Any]]:
    """Infra tables by the name they get in the test stage."""
    template = cfn.merge_template()
    ctx = cfn.context(STAGE)
    return {
        cfn.resolve(r["Properties"]["TableName"], ctx): r["Properties"]
        for r in template["Resources"].values()
        if r.get("Type") == "AWS::DynamoDB::Table"
    }


def _keys(schema: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(k["AttributeName"], k["KeyType"]) for k in schema}


def _ttl_attribute(model: type[models.Model]) -> str | None:
    names = [attr.attr_name for attr in model.get_attributes().values() if isinstance(attr, TTLAttribute)]
    return names[0] if names else None


def test_every_model_table_is_declared_with_identical_keys_and_indexes() -> None:
    infra = _tables()
    expected = models.table_definitions()
    settings = get_settings()
    assert set(infra) == set(expected), "infra/ and chalicelib.models.TABLES declare different tables"
    assert len(models.TABLES) >= 4  # jobs, events, counters, users: a lost registration shows here
    for field, model in models.TABLES.items():
        name = getattr(settings, field)
        props, want = infra[name], expected[name]
        assert _keys(props["KeySchema"]) == _keys(want["key_schema"]), name
        assert props["KeySchema"][0]["KeyType"] == "HASH", f"{name}: CloudFormation wants HASH first"
        assert {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]} == {
            (a["AttributeName"], a["AttributeType"]) for a in want["attribute_definitions"]
        }, name
        got_indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
        want_indexes = {i["index_name"]: i for i in want["global_secondary_indexes"]}
        assert set(got_indexes) == set(want_indexes), name
        for index_name, index in want_indexes.items():
            assert _keys(got_indexes[index_name]["KeySchema"]) == _keys(index["key_schema"]), index_name
        for index in model._indexes.values():
            projection = type(index.Meta.projection)
            kind = {AllProjection: "ALL", KeysOnlyProjection: "KEYS_ONLY"}.get(projection, "INCLUDE")
            assert got_indexes[index.Meta.index_name]["Projection"]["ProjectionType"] == kind
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        ttl = _ttl_attribute(model)
        spec = props.get("TimeToLiveSpecification")
        assert (spec["AttributeName"] if spec and spec["Enabled"] else None) == ttl, f"{name}: TTL attribute"


def test_jobs_table_expires_items_through_expires_at() -> None:
    jobs_table = _tables()[get_settings().jobs_table]
    assert jobs_table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_tables_have_point_in_time_recovery_encryption_and_survive_stack_deletion() -> None:
    template = cfn.merge_template()
    tables = [r for r in template["Resources"].values() if r.get("Type") == "AWS::DynamoDB::Table"]
    for table in tables:
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def _buckets() -> dict[str, dict[str, Any]]:
    template = cfn.merge_template()
    return {k: r for k, r in template["Resources"].items() if r.get("Type") == "AWS::S3::Bucket"}


def test_buckets_are_encrypted_private_and_tls_only() -> None:
    template = cfn.merge_template()
    buckets = _buckets()
    assert set(buckets) == {"UploadBucket", "ResultsBucket", "ArchiveBucket"}
    policies = {
        r["Properties"]["Bucket"]["Ref"]: r["Properties"]["PolicyDocument"]
        for r in template["Resources"].values()
        if r.get("Type") == "AWS::S3::BucketPolicy"
    }
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
        assert all(props["PublicAccessBlockConfiguration"].values())
        assert len(props["PublicAccessBlockConfiguration"]) == 4
        deny = [s for s in policies[name]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and s["Action"] == "s3:*" for s in deny)
        resources = {str(r) for s in deny for r in s["Resource"]}
        assert any("/*" in r for r in resources), f"{name}: TLS rule must cover objects, not only the bucket"


def test_only_the_upload_bucket_takes_browser_posts_from_the_apis_origin() -> None:
    """The web app posts files straight to S3 with presigned POSTs (design §15)."""
    buckets = _buckets()
    rules = buckets["UploadBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert len(rules) == 1 and rules[0]["AllowedMethods"] == ["POST"]
    assert rules[0]["AllowedOrigins"] == [{"Fn::Sub": "https://*.execute-api.${AWS::Region}.amazonaws.com"}]
    assert all("CorsConfiguration" not in buckets[b]["Properties"] for b in ("ResultsBucket", "ArchiveBucket"))


def _expirations(bucket: dict[str, Any]) -> dict[str, int]:
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any(r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1 for r in rules)
    assert all(r["Status"] == "Enabled" for r in rules)
    return {r["Prefix"]: r["ExpirationInDays"] for r in rules if "ExpirationInDays" in r}


def test_bucket_lifecycle_follows_the_retention_policy_plus_grace() -> None:
    """Bucket rules are a safety net behind maintenance: they may never delete an object
    the service still needs (design §23). An input is referenced for the job's whole life
    (Submitted, Running, then the longest terminal retention); results for the longest
    terminal retention; archived copies for the Archived retention; each + grace."""
    retention = get_policy().retention_days
    terminal = max(retention.days(s) for s in ("Completed", "Error", "Cancelled"))
    inputs = retention.days("Submitted") + retention.days("Running") + terminal
    buckets = _buckets()
    days = lambda d: math.ceil(d) + cfn.GRACE_DAYS  # noqa: E731
    assert _expirations(buckets["UploadBucket"]) == {"uploads/": days(inputs), "inbox/": days(inputs)}
    assert _expirations(buckets["ResultsBucket"]) == {"results/": days(terminal)}
    assert _expirations(buckets["ArchiveBucket"]) == {"archive/": days(retention.days("Archived"))}


def test_jwt_secret_is_generated_strong_enough_for_the_service() -> None:
    secret = cfn.merge_template()["Resources"]["JwtSecret"]
    generate = secret["Properties"]["GenerateSecretString"]
    assert generate["PasswordLength"] >= keys.MIN_SECRET_LENGTH
    name = cfn.resolve(secret["Properties"]["Name"], cfn.context("dev"))
    assert name == load_settings({"AMR_STAGE": "dev"}).jwt_secret_name


@pytest.mark.parametrize("stage", cfn.DEPLOYED_STAGES)
def test_functions_are_told_the_names_of_what_the_stack_creates(stage: str) -> None:
    template = cfn.merge_template()
    ctx = cfn.context(stage)
    env = cfn.resolve(template["Globals"]["Function"]["Environment"]["Variables"], ctx)
    config_env = cfn.chalice_config()["stages"][stage]["environment_variables"]
    settings = load_settings({**env, **config_env})
    created = {
        k: cfn.resolve(r["Properties"].get("TableName") or r["Properties"].get("BucketName") or r["Properties"].get("Name"), ctx)
        for k, r in template["Resources"].items()
        if r.get("Type") in {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SecretsManager::Secret"}
    }
    assert settings.stage == stage and not settings.is_local
    assert {
        "JobsTable": settings.jobs_table, "UsersTable": settings.users_table,
        "JobEventsTable": settings.events_table, "CountersTable": settings.counters_table,
        "MaintenanceRunsTable": settings.runs_table,
        "BatchesTable": settings.batches_table, "NotificationsTable": settings.notifications_table,
        "UploadBucket": settings.upload_bucket, "ResultsBucket": settings.results_bucket,
        "ArchiveBucket": settings.archive_bucket, "JwtSecret": settings.jwt_secret_name,
    } == created
    assert env["AMR_RESFINDER_DB"] == "/var/task/chalicelib/data/resfinder-db"
    queue = template["Resources"]["NotificationsQueue"]["Properties"]
    assert cfn.resolve(queue["QueueName"], ctx) == settings.notifications_queue
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5  # then the dead-letter queue
    assert env["AMR_POINTFINDER_DB"] == "/var/task/chalicelib/data/pointfinder-db"


def test_api_throttling_is_set_on_every_method() -> None:
    settings = cfn.merge_template()["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    assert settings[0]["ResourcePath"] == "/*" and settings[0]["HttpMethod"] == "*"
    assert {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(settings[0])


def test_login_and_register_are_throttled_apart_and_predictions_have_reserved_concurrency() -> None:
    """design §23: password guessing and sign-up floods meet their own limit; one user's
    uploads cannot take the account's whole Lambda concurrency."""
    template = cfn.merge_template()
    settings = template["Resources"]["RestAPI"]["Properties"]["MethodSettings"]
    auth = {s["ResourcePath"]: s for s in settings if s["ResourcePath"].startswith("/~1auth")}
    assert set(auth) == {"/~1auth~1login", "/~1auth~1register"}
    for setting in auth.values():
        assert setting["HttpMethod"] == "POST"
        assert setting["ThrottlingRateLimit"] == {"Ref": "AuthThrottleRateLimit"}
    params = template["Parameters"]
    assert params["AuthThrottleRateLimit"]["Default"] < params["ApiThrottleRateLimit"]["Default"]
    upload = template["Resources"]["OnUpload"]["Properties"]
    assert upload["ReservedConcurrentExecutions"] == {"Ref": "PredictionReservedConcurrency"}
    for name in ("MaintenancePurge", "MaintenanceArchive", "MaintenanceStalled"):
        env = template["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert env["AMR_MAINTENANCE_FUNCTION"] == {"Ref": "MaintenanceRun"}  # hand-over target


# --- chalice config and IAM ----------------------------------------------------------

def _registered_functions() -> dict[str, str]:
    """Every non-API Lambda function the app registers -> its kind."""
    from app import app

    kinds = {
        "S3EventConfig": "prediction",
        "ScheduledEventConfig": "maintenance",
        "DynamoDBEventConfig": "notifier",
        "SQSEventConfig": "notifier",
    }
    found = {src.name: kinds.get(type(src).__name__, type(src).__name__) for src in app.event_sources}
    found.update({fn.name: "pure" for fn in app.pure_lambda_functions})
    return found


def test_local_stage_stays_local() -> None:
    local = cfn.chalice_config()["stages"]["local"]
    assert local["environment_variables"]["AMR_STAGE"] == "local"


@pytest.mark.parametrize("stage", cfn.DEPLOYED_STAGES)
def test_every_function_has_its_own_explicit_policy(stage: str) -> None:
    config = cfn.chalice_config()["stages"][stage]
    assert config["autogen_policy"] is False
    assert config["iam_policy_file"] == "policy-api.json"
    per_function = config["lambda_functions"]
    expected = {
        "prediction": "policy-prediction.json",
        "maintenance": "policy-maintenance.json",
        "notifier": "policy-notifier.json",
    }
    # pure functions invoked asynchronously: a maintenance run; the reset mail (accounts, as the API)
    expected_pure = {"maintenance_run": "policy-maintenance.json", "send_password_reset": "policy-api.json"}
    for name, kind in _registered_functions().items():
        assert name in per_function, f"{name} ({kind}) has no explicit policy in stage {stage}"
        want = expected_pure[name] if kind == "pure" else expected[kind]
        assert per_function[name]["iam_policy_file"] == want, name
    for file in {"policy-api.json", *(f["iam_policy_file"] for f in per_function.values())}:
        assert (cfn.CHALICE_DIR / file).is_file()


ALLOWED_ACTIONS = {
    "policy-api.json": {
        "dynamodb:BatchGetItem", "lambda:InvokeFunction", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
        "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:DescribeTable",
        "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectTagging",
        "secretsmanager:GetSecretValue", "ses:SendEmail", "logs:CreateLogStream", "logs:PutLogEvents",
    },
    "policy-prediction.json": {
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DescribeTable",
        # a paired drop removes the lone mate's waiting job and its events (design §23)
        "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem",
        "dynamodb:BatchGetItem",  # a bucket drop meets the user's quotas (counters)
        # ListBucket: without it S3 answers 403, not 404, for an input deleted since its event
        "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject",
        "logs:CreateLogStream", "logs:PutLogEvents",
    },
    "policy-notifier.json": {
        "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
        "dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
        "dynamodb:UpdateItem", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage", "ses:SendEmail",
        "logs:CreateLogStream", "logs:PutLogEvents",
    },
    "policy-maintenance.json": {
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
        "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:DescribeTable",
        "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectTagging",
        "lambda:InvokeFunction",  # a scheduled task hands its backlog over to maintenance_run
        "logs:CreateLogStream", "logs:PutLogEvents",
    },
}


@pytest.mark.parametrize("name", sorted(ALLOWED_ACTIONS))
def test_policies_grant_named_actions_on_this_stages_resources_only(name: str) -> None:
    ctx = cfn.context("dev", JwtSecret="arn:aws:secretsmanager:us-east-1:123456789012:secret:amr-dev/jwt-secret-AbCdEf")
    stmts = cfn.statements(cfn.policy(name), ctx)
    actions = {a for s in stmts for a in s["Action"]}
    assert actions <= ALLOWED_ACTIONS[name]
    for stmt in stmts:
        assert stmt["Effect"] == "Allow"
        assert not any("*" in a for a in stmt["Action"]), "no wildcard actions"
        for resource in stmt["Resource"]:
            assert resource != "*"
            service = stmt["Action"][0].split(":")[0]
            assert all(a.startswith(service + ":") for a in stmt["Action"]), "one service per statement"
            if service == "dynamodb":
                assert ":table/amr-dev-" in resource
            elif service == "s3":
                assert resource.startswith("arn:aws:s3:::amr-dev-") and resource.split("/")[0].endswith(cfn.ACCOUNT)
            elif service == "logs":
                assert ":log-group:/aws/lambda/amr-dev-" in resource
    if name != "policy-api.json":
        assert "secretsmanager:GetSecretValue" not in actions, "only the API signs tokens"
    if name not in ("policy-api.json", "policy-notifier.json"):
        assert "ses:SendEmail" not in actions, "only the API and the notifier send mail"
    ses = [s for s in stmts if "ses:SendEmail" in s["Action"]]
    for stmt in ses:
        assert stmt["Condition"] == {"StringEquals": {"ses:FromAddress": "no-reply@amr.example.org"}}


def test_prediction_cannot_delete_accounts_or_read_other_buckets() -> None:
    """It deletes only a lone mate's waiting job record and its events (design §23: found by local IAM)."""
    ctx = cfn.context("dev")
    stmts = cfn.statements(cfn.policy("policy-prediction.json"), ctx)
    assert cfn.allows(stmts, "dynamodb:DeleteItem", "arn:aws:dynamodb:us-east-1:123456789012:table/amr-dev-jobs")
    assert not cfn.allows(stmts, "dynamodb:DeleteItem", "arn:aws:dynamodb:us-east-1:123456789012:table/amr-dev-users")
    assert not cfn.allows(stmts, "dynamodb:DeleteItem", "arn:aws:dynamodb:us-east-1:123456789012:table/amr-dev-batches")
    assert not cfn.allows(stmts, "s3:GetObject", "arn:aws:s3:::amr-dev-archive-123456789012/archive/u/j/x.gz")
    assert not cfn.allows(stmts, "dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/amr-prod-jobs")
    assert cfn.allows(stmts, "s3:PutObject", "arn:aws:s3:::amr-dev-results-123456789012/results/u/j/predictions.json")
