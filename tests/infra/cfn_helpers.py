"""Reading `infra/` and `.chalice/` the way CloudFormation would, for tests.

`resolve` evaluates the few intrinsic functions the templates and policy files use (Ref,
Fn::Sub, Fn::GetAtt, Fn::Join) against given parameter and resource values, so tests can
compare what a stack would create with what the code expects.
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MERGE_TEMPLATE = ROOT / "infra" / "resources.json"
CHALICE_DIR = ROOT / ".chalice"
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
GRACE_DAYS = 7  # bucket rules expire objects this long after the policy's retention
DEPLOYED_STAGES = ("dev", "prod")


def merge_template() -> dict[str, Any]:
    return json.loads(MERGE_TEMPLATE.read_text())


def chalice_config() -> dict[str, Any]:
    return json.loads((CHALICE_DIR / "config.json").read_text())


def policy(name: str) -> dict[str, Any]:
    return json.loads((CHALICE_DIR / name).read_text())


def infra_resources_only(template: dict[str, Any]) -> dict[str, Any]:
    """The stack `infra/` creates by itself: complete resources only, no SAM sections.

    Entries without a Type (e.g. `RestAPI` throttling) only amend Chalice's resources.
    """
    resources = {k: v for k, v in template["Resources"].items() if "Type" in v}
    return {
        "AWSTemplateFormatVersion": template["AWSTemplateFormatVersion"],
        "Parameters": {k: v for k, v in template["Parameters"].items() if not k.startswith("ApiThrottle")},
        "Resources": resources,
        "Outputs": {k: v for k, v in template["Outputs"].items() if _refs(v) <= set(resources)},
    }


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        out: set[str] = set()
        for key, item in value.items():
            if key == "Ref":
                out.add(item)
            elif key == "Fn::GetAtt":
                out.add(item[0])
            else:
                out |= _refs(item)
        return out
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def context(stage: str, **extra: str) -> dict[str, str]:
    """Values of pseudo parameters and parameters for `resolve`."""
    return {
        "Stage": stage,
        "AWS::AccountId": ACCOUNT,
        "AWS::Region": REGION,
        "AWS::Partition": "aws",
        "AWS::StackName": f"amr-{stage}",
        "MailSender": "no-reply@amr.example.org",
        **extra,
    }


def resolve(value: Any, ctx: dict[str, str]) -> Any:
    """Evaluate Ref / Fn::Sub / Fn::GetAtt / Fn::Join with `ctx` (KeyError when unknown)."""
    if isinstance(value, list):
        return [resolve(v, ctx) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return ctx[value["Ref"]]
    if set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        return re.sub(r"\$\{([^}]+)\}", lambda m: ctx[m.group(1)], text)
    if set(value) == {"Fn::GetAtt"}:
        name, attr = value["Fn::GetAtt"]
        return ctx[f"{name}.{attr}"]
    if set(value) == {"Fn::Join"}:
        sep, parts = value["Fn::Join"]
        return sep.join(resolve(parts, ctx))
    return {k: resolve(v, ctx) for k, v in value.items()}


def statements(doc: dict[str, Any], ctx: dict[str, str]) -> list[dict[str, Any]]:
    """A policy's statements with resources resolved and actions/resources as lists."""
    out = []
    for stmt in resolve(doc, ctx)["Statement"]:
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        out.append({**stmt, "Action": actions, "Resource": resources})
    return out


def allows(stmts: list[dict[str, Any]], action: str, resource: str) -> bool:
    """IAM-style match: an Allow statement naming the action and a matching resource."""
    for stmt in stmts:
        if stmt["Effect"] != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(action, a) for a in stmt["Action"]):
            continue
        if any(fnmatch.fnmatchcase(resource, r) for r in stmt["Resource"]):
            return True
    return False


#: The per-function policy files (API handler, S3 prediction handler, schedules).
ALLOWED_POLICY_FILES = ("policy-api.json", "policy-prediction.json", "policy-maintenance.json")


@dataclass(frozen=True)
class Packaged:
    """What `scripts/package.py` produced (see tests/infra/conftest.py)."""

    out: Path
    template: dict[str, Any]
    zip_path: Path
    unzipped: Path
    wheel: Path
    log: str
