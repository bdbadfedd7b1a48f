"""IAM enforced locally (design §23): each function's calls meet its role's policy, refused as AWS refuses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.settings import get_settings
from chalicelib.jobs import lifecycle as jobs
from chalicelib.jobs import queries
from local import iam
from tests.integration.test_intake import DB_PRESENT, put
from tests.integration.test_reads_jobs import mates  # noqa: F401 (a fixture)

JOBS_ARN = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/amr-${Stage}-jobs"


def _policy(tmp_path: Path, statements: list[dict[str, Any]]) -> iam.Policy:
    path = tmp_path / "policy.json"
    path.write_text(__import__("json").dumps({"Version": "2012-10-17", "Statement": statements}))
    return iam.load_policy(path, get_settings())


def test_policy_resolves_deployed_names_to_this_stage(tmp_path: Path) -> None:
    policy = _policy(
        tmp_path,
        [
            {
                "Sid": "Jobs",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem"],
                "Resource": [{"Fn::Sub": JOBS_ARN}],
            },
            {
                "Sid": "Up",
                "Effect": "Allow",
                "Action": ["s3:Get*"],
                "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:s3:::amr-${Stage}-uploads-${AWS::AccountId}/inbox/*"}],
            },
        ],
    )
    settings = get_settings()
    table = f"arn:aws:dynamodb:us-east-1:{iam.ACCOUNT_ID}:table/{settings.jobs_table}"
    assert policy.decide(iam.Request("dynamodb:GetItem", table)) == (True, "Jobs")
    assert policy.decide(iam.Request("dynamodb:DeleteItem", table)) == (False, "")
    assert policy.decide(iam.Request("dynamodb:GetItem", table + "/index/x")) == (False, "")
    assert policy.decide(iam.Request("s3:GetObject", f"arn:aws:s3:::{settings.upload_bucket}/inbox/a/b.fa"))[0]
    assert not policy.decide(iam.Request("s3:GetObject", f"arn:aws:s3:::{settings.upload_bucket}/uploads/b.fa"))[0]


def test_explicit_deny_wins_and_conditions_must_hold(tmp_path: Path) -> None:
    policy = _policy(
        tmp_path,
        [
            {
                "Sid": "All",
                "Effect": "Allow",
                "Action": "ses:*",
                "Resource": "*",
                "Condition": {"StringEquals": {"ses:FromAddress": "a@x.org"}},
            },
            {"Sid": "No", "Effect": "Deny", "Action": "ses:SendRawEmail", "Resource": "*"},
        ],
    )
    assert policy.decide(iam.Request("ses:SendEmail", "arn", {"ses:fromaddress": "a@x.org"})) == (True, "All")
    assert policy.decide(iam.Request("ses:SendEmail", "arn", {"ses:fromaddress": "b@x.org"})) == (False, "")
    assert policy.decide(iam.Request("ses:SendEmail", "arn")) == (False, "")
    assert policy.decide(iam.Request("ses:SendRawEmail", "arn", {"ses:fromaddress": "a@x.org"})) == (False, "No")


def test_every_function_has_a_policy_and_the_api_has_the_stage_default() -> None:
    policies = iam.function_policies(get_settings())
    assert policies["api_handler"].name == "policy-api.json"
    assert policies["on_upload"].name == "policy-prediction.json"
    assert {
        policies[n].name for n in ("maintenance_purge", "maintenance_archive", "maintenance_stalled", "maintenance_run")
    } == {"policy-maintenance.json"}


def test_a_call_outside_the_role_is_refused_as_aws_refuses_it(aws_env: None) -> None:
    """The prediction role cannot read the users' index; the refusal is AccessDeniedException."""
    guard = iam.active()
    assert guard is not None
    with iam.running_as("on_upload"), pytest.raises(ClientError) as refused:
        aws.client("dynamodb").delete_item(TableName=get_settings().users_table, Key={"user_id": {"S": "x"}})
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: dynamodb:DeleteItem" in str(refused.value)
    with iam.running_as("on_upload"), pytest.raises(ClientError) as s3_refused:
        aws.client("s3").put_object(Bucket=get_settings().archive_bucket, Key="archive/x", Body=b"x")
    assert s3_refused.value.response["Error"]["Code"] == "AccessDenied"
    aws.client("s3").put_object(
        Bucket=get_settings().archive_bucket, Key="archive/x", Body=b"x"
    )  # no function: unchecked


@pytest.mark.skipif(not DB_PRESENT, reason="ResFinder database (resfinder-db) not installed")
def test_paired_drop_removes_the_waiting_mate_within_the_prediction_role(
    client: Any,
    make_user: Callable[..., Any],
    mates: tuple[bytes, bytes],  # noqa: F811
) -> None:
    """Today's gap: replacing the lone mate's waiting job needs DeleteItem and event writes."""
    user_id, _ = make_user("vera")
    for name, body in (("s_R1.fastq.gz", mates[0]), ("s_R2.fastq.gz", mates[1])):
        client.lambda_.invoke("on_upload", put(f"inbox/vera/{name}", body))

    (job,) = queries.list_user_jobs(user_id, limit=10).items
    assert job.status == jobs.COMPLETED
    guard = iam.active()
    assert guard is not None and guard.refused() == []
    assert {o.action for o in guard.observed if o.function == "on_upload"} >= {"dynamodb:DeleteItem"}
