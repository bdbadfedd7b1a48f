"""IAM, enforced locally: every AWS call a function makes is checked against its policy (design §23).

moto accepts any call, so a permission AWS would refuse passes every test. Here each of the
app's functions runs as the principal its deployed role would be: `.chalice/config.json`
names the policy file of every function (the stage's `iam_policy_file` for the API and the
others), the statements are resolved for the local resource names, and every botocore call
made while that function runs (boto3 clients and PynamoDB alike) is evaluated as IAM does —
an explicit `Deny` wins, otherwise an `Allow` whose action, resource and conditions match is
needed — and refused with the error AWS returns (`AccessDeniedException`, S3's `AccessDenied`).

Which function is running is a context variable set around each handler (`guard_app`), so
the API server, the event bridge and the scheduler threads of the local stack each carry
their own principal. Calls made with no function running (setting up tables, tests
arranging data, threads a handler starts itself) are not checked. Every checked call is
recorded (`Guard.observed`) with the statement that allowed it, for the closing table of
the issue and for review.
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import functools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.client
from botocore.exceptions import ClientError

PROJECT_DIR = Path(__file__).resolve().parent.parent
CHALICE_DIR = PROJECT_DIR / ".chalice"
#: The deployed stage whose per-function policies are enforced (dev and prod are the same).
POLICY_STAGE = "dev"
ACCOUNT_ID = "123456789012"
PARTITION = "aws"
#: The API's handler in Chalice's deployment (all routes share one function and role).
API_FUNCTION = "api_handler"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("amr_iam_function", default=None)
_installed: list[Guard] = []


@dataclass(frozen=True)
class Request:
    """One IAM authorisation request: action, resource ARN and condition keys."""

    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: dict[str, dict[str, list[str]]]

    def matches(self, request: Request) -> bool:
        """Action, resource and every condition match (IAM's AND across them)."""
        action = request.action.lower()
        if not any(fnmatch.fnmatchcase(action, pattern.lower()) for pattern in self.actions):
            return False
        if not any(_arn_match(pattern, request.resource) for pattern in self.resources):
            return False
        return all(_condition(op, keys, request.context) for op, keys in self.conditions.items())


@dataclass(frozen=True)
class Policy:
    name: str
    statements: tuple[Statement, ...]

    def decide(self, request: Request) -> tuple[bool, str]:
        """(allowed, deciding statement id); an explicit Deny wins over any Allow."""
        allow = ""
        for statement in self.statements:
            if statement.matches(request):
                if statement.effect == "Deny":
                    return False, statement.sid
                allow = allow or statement.sid
        return bool(allow), allow


@dataclass(frozen=True)
class Observed:
    function: str
    operation: str
    action: str
    resource: str
    policy: str
    statement: str
    allowed: bool


def _arn_match(pattern: str, arn: str) -> bool:
    """IAM's wildcards: `*` any run of characters (also across `/` and `:`), `?` one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def _condition(operator: str, keys: dict[str, list[str]], context: dict[str, str]) -> bool:
    """The string operators the project's policies use; a missing key does not match."""
    for key, wanted in keys.items():
        value = context.get(key.lower())
        if value is None:
            return False
        if operator == "StringEquals" and value not in wanted:
            return False
        if operator == "StringLike" and not any(_arn_match(w, value) for w in wanted):
            return False
        if operator not in ("StringEquals", "StringLike"):
            return False  # an operator this evaluator does not know never grants
    return True


def _names(settings: Any) -> dict[str, str]:
    """Deployed resource names (as the policies write them) -> the names this stage uses."""
    stage = settings.stage
    names = {
        f"amr-{stage}-uploads-{ACCOUNT_ID}": settings.upload_bucket,
        f"amr-{stage}-results-{ACCOUNT_ID}": settings.results_bucket,
        f"amr-{stage}-archive-{ACCOUNT_ID}": settings.archive_bucket,
        f"amr-{stage}-jobs": settings.jobs_table,
        f"amr-{stage}-users": settings.users_table,
        f"amr-{stage}-job-events": settings.events_table,
        f"amr-{stage}-counters": settings.counters_table,
        f"amr-{stage}-maintenance-runs": settings.runs_table,
        f"amr-{stage}-batches": settings.batches_table,
    }
    return names


def _resolve(value: Any, settings: Any) -> str:
    """A resource or condition value of a policy with its CloudFormation functions applied."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        secret = f"arn:{PARTITION}:secretsmanager:{settings.region}:{ACCOUNT_ID}:secret:{settings.jwt_secret_name}-*"
        refs = {"JwtSecret": secret, "MailSender": settings.mail_sender}
        if value["Ref"] not in refs:
            raise ValueError(f"policy refers to an unknown resource {value['Ref']!r}")
        return refs[value["Ref"]]
    text = value["Fn::Sub"]
    subs = {
        "AWS::Partition": PARTITION,
        "AWS::Region": settings.region,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::StackName": f"amr-{settings.stage}",
        "Stage": settings.stage,
    }
    text = re.sub(r"\$\{([^}]+)\}", lambda m: subs[m.group(1)], text)
    for deployed, local in sorted(_names(settings).items(), key=lambda kv: -len(kv[0])):
        text = re.sub(rf"(?<=[/:]){re.escape(deployed)}(?=$|/)", local, text)
    return text


def load_policy(path: Path, settings: Any) -> Policy:
    """A policy document with its resources resolved for `settings`' stage."""
    document = json.loads(path.read_text())
    statements = []
    for n, raw in enumerate(document["Statement"]):
        actions = raw["Action"] if isinstance(raw["Action"], list) else [raw["Action"]]
        resources = raw["Resource"] if isinstance(raw["Resource"], list) else [raw["Resource"]]
        conditions = {
            op: {
                key: [_resolve(v, settings) for v in (vals if isinstance(vals, list) else [vals])]
                for key, vals in keys.items()
            }
            for op, keys in raw.get("Condition", {}).items()
        }
        statements.append(
            Statement(
                sid=raw.get("Sid", f"Statement{n}"),
                effect=raw["Effect"],
                actions=tuple(actions),
                resources=tuple(_resolve(r, settings) for r in resources),
                conditions=conditions,
            )
        )
    return Policy(path.name, tuple(statements))


def function_policies(settings: Any, chalice_dir: Path = CHALICE_DIR) -> dict[str, Policy]:
    """Every function of the app -> its policy, as `.chalice/config.json` deploys them."""
    config = json.loads((chalice_dir / "config.json").read_text())
    stage = config["stages"][POLICY_STAGE]
    default = load_policy(chalice_dir / stage["iam_policy_file"], settings)
    policies = {API_FUNCTION: default}
    for name, options in stage.get("lambda_functions", {}).items():
        file = options.get("iam_policy_file")
        policies[name] = load_policy(chalice_dir / file, settings) if file else default
    return policies


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _dynamodb_requests(operation: str, params: dict[str, Any], arn: str) -> list[Request]:
    """One request per table an item operation touches; queries of an index name the index."""
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [Request(f"dynamodb:{operation}", arn + table) for table in params.get("RequestItems", {})]
    if operation == "TransactWriteItems":
        return [
            Request(f"dynamodb:{_TRANSACT_ACTIONS[kind]}", arn + body["TableName"])
            for item in params.get("TransactItems", [])
            for kind, body in item.items()
        ]
    if operation == "TransactGetItems":
        return [Request("dynamodb:GetItem", arn + item["Get"]["TableName"]) for item in params.get("TransactItems", [])]
    table = params.get("TableName", "")
    if params.get("IndexName"):
        table += f"/index/{params['IndexName']}"
    return [Request(f"dynamodb:{operation}", arn + table)]


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
#: S3 operations authorised by another action of the same name space (IAM's S3 action table).
_S3_ACTIONS = {
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "ListObjectVersions": "ListBucket",
    "HeadBucket": "ListBucket",
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "AbortMultipartUpload": "PutObject",
}


def _s3_requests(operation: str, params: dict[str, Any]) -> list[Request]:
    bucket_arn = f"arn:{PARTITION}:s3:::{params.get('Bucket', '')}"
    obj = f"{bucket_arn}/{params.get('Key', '')}"
    action = _S3_ACTIONS.get(operation, operation)
    if operation == "CopyObject":
        source = params.get("CopySource", "")
        if isinstance(source, dict):
            source = f"{source['Bucket']}/{source['Key']}"
        return [Request("s3:GetObject", f"arn:{PARTITION}:s3:::{source.lstrip('/')}"), Request("s3:PutObject", obj)]
    if operation == "DeleteObjects":
        objects = params.get("Delete", {}).get("Objects", [])
        return [Request("s3:DeleteObject", f"{bucket_arn}/{item['Key']}") for item in objects]
    on_bucket = action == "ListBucket" or operation.startswith(
        ("GetBucket", "PutBucket", "DeleteBucket", "CreateBucket")
    )
    return [Request(f"s3:{action}", bucket_arn if on_bucket else obj)]


def _function_arn(settings: Any, name: str) -> str:
    return f"arn:{PARTITION}:lambda:{settings.region}:{ACCOUNT_ID}:function:{name}"


def requests_for(service: str, operation: str, params: dict[str, Any], settings: Any) -> list[Request]:
    """The IAM requests one API call makes (one call may need several, e.g. a transaction)."""
    if service == "dynamodb":
        return _dynamodb_requests(operation, params, f"arn:{PARTITION}:dynamodb:{settings.region}:{ACCOUNT_ID}:table/")
    if service == "s3":
        return _s3_requests(operation, params)
    queue = params.get("QueueName", params.get("QueueUrl", ""))
    if service == "sqs" and operation in ("SendMessage", "GetQueueUrl") and queue.endswith(settings.async_queue):
        # The local stand-in for Lambda's async queue: the role needs what an async invoke needs.
        if operation == "GetQueueUrl":
            return []
        target = json.loads(params.get("MessageBody", "{}")).get("function", "")
        return [
            Request("lambda:InvokeFunction", _function_arn(settings, f"amr-{settings.stage}-{_camel(target)}-LOCAL"))
        ]
    if service == "sqs" and queue:  # a queue by name or URL: IAM sees the queue's ARN
        name = queue.rstrip("/").rsplit("/", 1)[-1]
        return [Request(f"sqs:{operation}", f"arn:{PARTITION}:sqs:{settings.region}:{ACCOUNT_ID}:{name}")]
    if service == "ses" and operation in ("SendEmail", "SendRawEmail"):
        source = params.get("Source", "")
        identity = f"arn:{PARTITION}:ses:{settings.region}:{ACCOUNT_ID}:identity/{source.split('@')[-1]}"
        return [Request(f"ses:{operation}", identity, {"ses:fromaddress": source})]
    if service == "lambda" and operation == "Invoke":
        return [Request("lambda:InvokeFunction", _function_arn(settings, params.get("FunctionName", "")))]
    return [Request(f"{service}:{operation}", "*")]


def _refusal(service: str, operation: str, function: str, request: Request, explicit: bool) -> ClientError:
    """The error AWS answers with, shaped as botocore raises it."""
    role = f"arn:{PARTITION}:sts::{ACCOUNT_ID}:assumed-role/amr-local-{function}/{function}"
    why = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else "because no identity-based policy allows the " + request.action + " action"
    )
    message = f"User: {role} is not authorized to perform: {request.action} on resource: {request.resource} {why}"
    code, status = ("AccessDenied", 403) if service == "s3" else ("AccessDeniedException", 400)
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class Guard:
    """The installed check: policies per function and the calls observed."""

    def __init__(self, settings: Any, chalice_dir: Path = CHALICE_DIR) -> None:
        self.settings = settings
        self.policies = function_policies(settings, chalice_dir)
        self.observed: list[Observed] = []
        self._lock = threading.Lock()
        self._original: Callable[..., Any] | None = None

    def check(self, service: str, operation: str, params: dict[str, Any]) -> None:
        """Refuse the call as AWS would if the running function's policy does not allow it."""
        function = _current.get()
        if function is None:
            return
        policy = self.policies.get(function) or self.policies[API_FUNCTION]
        for request in requests_for(service, operation, params, self.settings):
            allowed, sid = policy.decide(request)
            with self._lock:
                self.observed.append(
                    Observed(
                        function, f"{service}.{operation}", request.action, request.resource, policy.name, sid, allowed
                    )
                )
            if not allowed:
                raise _refusal(service, operation, function, request, explicit=bool(sid))

    def install(self) -> None:
        """Check every botocore call of this process (boto3 and PynamoDB clients alike)."""
        if self._original is not None:
            return
        original = botocore.client.BaseClient._make_api_call
        guard = self

        @functools.wraps(original)
        def checked(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            guard.check(client.meta.service_model.signing_name, operation_name, api_params)
            return original(client, operation_name, api_params)

        self._original = original
        botocore.client.BaseClient._make_api_call = checked
        _installed.append(self)

    def uninstall(self) -> None:
        if self._original is not None:
            botocore.client.BaseClient._make_api_call = self._original
            self._original = None
            _installed.remove(self)

    def refused(self) -> list[Observed]:
        return [o for o in self.observed if not o.allowed]


def _resource_kind(resource: str) -> str:
    """A resource ARN reduced to its table (or index) or bucket and first key segment."""
    if ":s3:::" in resource:
        bucket, _, key = resource.split(":::", 1)[1].partition("/")
        return f"s3 {bucket}/{key.split('/', 1)[0]}/*" if key else f"s3 {bucket}"
    if ":table/" in resource:
        return "table " + resource.split(":table/", 1)[1]
    if ":function:" in resource:
        return "function " + resource.split(":function:", 1)[1]
    return resource


def summary(observed: list[Observed]) -> list[tuple[str, str, str, str, str]]:
    """Distinct (function, action, resource kind, policy, statement or REFUSED) rows, sorted."""
    rows = {
        (o.function, o.action, _resource_kind(o.resource), o.policy, o.statement if o.allowed else "REFUSED")
        for o in observed
    }
    return sorted(rows)


def active() -> Guard | None:
    """The guard installed in this process, if any (tests read what it observed)."""
    return _installed[-1] if _installed else None


@contextlib.contextmanager
def running_as(function: str) -> Iterator[None]:
    """Run the body as function `function` (its role's policy applies to every call)."""
    token = _current.set(function)
    try:
        yield
    finally:
        _current.reset(token)


def guard_app(app: Any) -> Callable[[], None]:
    """Make every entry point of `app` run as its function: each `handler_map` entry and
    the API (Chalice's `__call__`). Returns a function that undoes it."""
    originals = dict(app.handler_map)

    def as_function(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def run(event: Any, context: Any) -> Any:
            with running_as(name):
                return handler(event, context)

        return run

    for name, handler in originals.items():
        app.handler_map[name] = as_function(name, handler)
    cls = type(app)

    def api_call(self: Any, event: Any, context: Any) -> Any:
        with running_as(API_FUNCTION):
            return cls.__call__(self, event, context)

    app.__class__ = type(f"Guarded{cls.__name__}", (cls,), {"__call__": api_call})

    def undo() -> None:
        app.handler_map.update(originals)
        app.__class__ = cls

    return undo
