"""The email that summarises a finished batch (design §22), sent through SES.

It is rendered from the same event a webhook receives, at sending time, so an email
retried later says exactly what the first attempt would have said.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core import aws
from chalicelib.core.settings import get_settings
from chalicelib.notifications import transport

#: Antibiotics listed in the email (the webhook carries them all).
MAX_HIGHLIGHTS = 10


def render(event: dict[str, Any]) -> tuple[str, str]:
    """(subject, plain text) of a `batch.finished` event."""
    batch = event["data"]["batch"]
    counts = batch.get("counts", {})
    total = int(batch.get("total", 0))
    name = batch.get("batch_name") or batch.get("batch_id")
    subject = f"Batch {name} finished: {counts.get('Completed', 0)} of {total} samples completed"
    lines = [
        f"Your batch {name} ({batch.get('batch_id')}) finished at {batch.get('finished_at')}.",
        "",
        "Samples by status:",
        *[f"  {status}: {n}" for status, n in counts.items() if n],
        "",
    ]
    highlights = batch.get("highlights", {})
    resistant = highlights.get("resistant_samples", {})
    if resistant:
        lines.append("Resistance found (antibiotic: samples resistant):")
        for antibiotic, n in list(resistant.items())[:MAX_HIGHLIGHTS]:
            lines.append(f"  {antibiotic}: {n} of {highlights.get('samples_with_results', total)}")
        if len(resistant) > MAX_HIGHLIGHTS:
            lines.append(f"  ... and {len(resistant) - MAX_HIGHLIGHTS} more antibiotics")
    else:
        lines.append("No acquired resistance was predicted in the completed samples.")
    failed = highlights.get("failed_samples", [])
    if failed:
        lines += ["", f"Samples that failed: {', '.join(failed[:MAX_HIGHLIGHTS])}"]
    link = batch.get("links", {}).get("web")
    if link:
        lines += ["", f"Open the batch: {link}"]
    lines += ["", "You receive this email because batch notifications are on for your account."]
    return subject, "\n".join(lines)


def send(to: str, payload: str) -> transport.Outcome:
    """Send the summary of the event `payload` to `to`; failures become an Outcome."""
    subject, text = render(json.loads(payload))
    try:
        response = aws.client("ses").send_email(
            Source=get_settings().mail_sender,
            Destination={"ToAddresses": [to]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
            },
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        return transport.Outcome(None, f"SES refused the message ({code})", 0)
    except BotoCoreError as exc:
        return transport.Outcome(None, f"SES unreachable ({type(exc).__name__})", 0)
    return transport.Outcome(200, None, 0, str(response.get("MessageId", "")))
