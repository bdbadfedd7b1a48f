"""Run one of this app's functions later, outside the current request (design §17).

Work that must not hold up a request — a maintenance run (API Gateway ends a request at
29 s) or sending an email (its duration would tell which addresses have accounts) — is
handed to a pure Lambda function of this app with an asynchronous invoke: Lambda queues
the event, answers at once and runs the function (retrying it twice on failure).

Where no deployed function name is configured (the local and test stages) the same
event goes to an SQS queue instead — Lambda's own async queue, emulated — which the
local stack drains into the same handler (`local/invoker.py`), and tests drain directly.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import aws
from chalicelib.core.aws import storage_call
from chalicelib.core.errors import ConfigurationError
from chalicelib.core.settings import ASYNC_FUNCTIONS, get_settings


def message(function: str, payload: dict[str, Any]) -> str:
    """The queued form of one invocation (what `local/invoker.py` reads)."""
    return json.dumps({"function": function, "payload": payload}, separators=(",", ":"))


@storage_call("invoke_async")
def invoke_async(function: str, payload: dict[str, Any], *, target: str | None = None) -> None:
    """Queue `payload` for the app's function `function`; returns once it is queued.

    `target` names the deployed function when the environment cannot (a function invoking
    itself: its own name would be a circular reference in the template)."""
    if function not in ASYNC_FUNCTIONS:
        raise ValueError(f"{function} is not an asynchronously invoked function")
    settings = get_settings()
    target = settings.functions.get(function) or (target if not settings.is_local else None)
    if target:
        aws.client("lambda").invoke(FunctionName=target, InvocationType="Event", Payload=json.dumps(payload).encode())
        return
    if not settings.is_local:
        raise ConfigurationError(f"No function is configured for {function} ({ASYNC_FUNCTIONS[function]})")
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.async_queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=message(function, payload))
