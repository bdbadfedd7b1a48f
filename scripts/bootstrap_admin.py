"""Create the first admin account of a deployed stage (run once after `deploy`).

    AMR_ADMIN_PASSWORD=... python scripts/bootstrap_admin.py --stack amr-dev \
        --username admin --email ops@example.org

Runs on the operator's machine with the operator's AWS credentials (DynamoDB write on
the stage's users and counters tables): there is no admin-creating route or Lambda, so
nothing deployed can mint admins. Table names come from the stack's outputs, so the
script writes exactly where the deployed functions read. Idempotent: an existing
username is reported, never changed. The password is read from AMR_ADMIN_PASSWORD or
prompted for; it is never printed.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Stack outputs (infra/resources.json) -> the settings variables they set.
OUTPUT_ENV = {
    "JobsTableName": "AMR_JOBS_TABLE",
    "UsersTableName": "AMR_USERS_TABLE",
    "JobEventsTableName": "AMR_EVENTS_TABLE",
    "CountersTableName": "AMR_COUNTERS_TABLE",
    "MaintenanceRunsTableName": "AMR_RUNS_TABLE",
    "BatchesTableName": "AMR_BATCHES_TABLE",
    "NotificationsTableName": "AMR_NOTIFICATIONS_TABLE",
    "UploadBucketName": "AMR_UPLOAD_BUCKET",
    "ResultsBucketName": "AMR_RESULTS_BUCKET",
    "ArchiveBucketName": "AMR_ARCHIVE_BUCKET",
}


def stack_environment(stack: str, region: str | None) -> dict[str, str]:
    """AMR_* settings of the deployed stage, from its CloudFormation outputs and parameters."""
    import boto3

    described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    params = {p["ParameterKey"]: p["ParameterValue"] for p in described.get("Parameters", [])}
    missing = sorted(set(OUTPUT_ENV) - set(outputs))
    if missing:
        raise SystemExit(f"stack {stack} lacks outputs {missing}: was it deployed from infra/resources.json?")
    env = {var: outputs[key] for key, var in OUTPUT_ENV.items()}
    env["AMR_STAGE"] = params.get("Stage", "dev")
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="CloudFormation stack name of the stage")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--email", required=True)
    parser.add_argument("--region", default=None)
    args = parser.parse_args(argv)

    os.environ.update(stack_environment(args.stack, args.region))
    password = os.environ.get("AMR_ADMIN_PASSWORD") or getpass.getpass("Admin password: ")

    from chalicelib.accounts import users
    from chalicelib.core import aws, tables as models
    from chalicelib.core.errors import ServiceError
    from chalicelib.core.settings import get_settings, reset_settings

    reset_settings()
    aws.reset_clients()
    models.bind_models(get_settings())
    try:
        user, created = users.bootstrap_admin(args.username, password, args.email)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state = "created" if created else "exists already"
    print(f"admin {user.username} ({user.user_id}) {state} in {get_settings().users_table}; role={user.role}")
    return 0 if user.role == "admin" else 1


if __name__ == "__main__":
    sys.exit(main())
