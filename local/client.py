"""What a program driving a local stack from outside needs (end-to-end tests, the load
benchmark): free loopback ports, a clean environment for `python -m local.stack`, and the
browser-style presigned upload."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from local.config import HOST


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def stack_environment(api_port: int, emulator_port: int, state_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without its AMR_/AWS_/POWERTOOLS_ settings (a test or a
    benchmark runs another stage), plus the stack's ports and state directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMR_", "AWS_", "POWERTOOLS_"))}
    env.update(EMULATOR_PORT=str(emulator_port), API_PORT=str(api_port), AMR_STATE_DIR=str(state_dir), **extra)
    return env


def post_form(url: str, fields: dict[str, str], filename: str, content: bytes, timeout: float = 30) -> int:
    """A browser-style multipart POST (the presigned upload), with urllib alone."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
