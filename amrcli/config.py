"""Where the client keeps its login: one file in the user's config directory, mode 0600.

The file maps each API URL to its token, so a login to a test stack never leaks into
production and `--api` switches between them. `AMR_TOKEN` (a token from elsewhere, e.g.
a pipeline's secret store) wins over the file and is never written to disk.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "amr"
CREDENTIALS_FILE = "credentials.json"
DEFAULT_API_URL = "http://127.0.0.1:8000"
TOKEN_ENV = "AMR_TOKEN"
API_ENV = "AMR_API_URL"


@dataclass(frozen=True)
class Credentials:
    token: str
    username: str | None = None
    expires_at: str | None = None  # ISO-8601 UTC; None when unknown (AMR_TOKEN)

    def expired(self, now: datetime | None = None) -> bool:
        if not self.expires_at:
            return False
        moment = now or datetime.now(UTC)
        return datetime.fromisoformat(self.expires_at) <= moment


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/amr` (`~/.config/amr`) on Linux, the platform's equivalent elsewhere."""
    return platformdirs.user_config_path(APP_NAME, appauthor=False)


def credentials_path() -> Path:
    return config_dir() / CREDENTIALS_FILE


def normalise_api_url(url: str) -> str:
    return url.strip().rstrip("/")


def _read_all() -> dict[str, Any]:
    try:
        data = json.loads(credentials_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_all(data: dict[str, Any]) -> None:
    """Write the whole file atomically, created 0600 (never world-readable, not even briefly)."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".credentials-", suffix=".tmp")  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, credentials_path())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(api_url: str) -> Credentials | None:
    """The token to use for `api_url`: `AMR_TOKEN`, else the stored login, else None."""
    env_token = os.environ.get(TOKEN_ENV, "").strip()
    if env_token:
        return Credentials(token=env_token)
    entry = _read_all().get(normalise_api_url(api_url))
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
        return None
    return Credentials(token=entry["token"], username=entry.get("username"), expires_at=entry.get("expires_at"))


def save(api_url: str, token: str, username: str, expires_in: int) -> Credentials:
    expires_at = (datetime.now(UTC) + timedelta(seconds=expires_in)).isoformat(timespec="seconds")
    creds = Credentials(token=token, username=username, expires_at=expires_at)
    data = _read_all()
    data[normalise_api_url(api_url)] = asdict(creds)
    _write_all(data)
    return creds


def forget(api_url: str) -> bool:
    """Remove the stored login for `api_url`; True if there was one."""
    data = _read_all()
    if data.pop(normalise_api_url(api_url), None) is None:
        return False
    _write_all(data)
    return True
