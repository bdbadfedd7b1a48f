"""Configuration of the local stack, and the environment the app runs with.

Everything is read from the environment once, so the stack, the on-demand schedule runner
and the end-to-end tests agree on ports, the state directory and the app's settings.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from local.files import atomic_write_bytes, read_json

PROJECT_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
REGION = "us-east-1"
#: moto's default account; queue ARNs in notification configurations use it.
ACCOUNT_ID = "123456789012"
JWT_SECRET_FILE = "jwt-secret"
RUNTIME_FILE = "runtime.json"


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class StackConfig:
    host: str
    emulator_port: int
    api_port: int
    state_dir: Path
    snapshot_seconds: float
    bridge_workers: int
    max_receives: int
    drain_seconds: float
    scheduler_enabled: bool
    admin_username: str
    admin_password: str | None
    admin_email: str | None

    @property
    def emulator_url(self) -> str:
        return f"http://{self.host}:{self.emulator_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"


def load_config() -> StackConfig:
    """Stack settings from the environment (defaults are design §3's)."""
    state_dir = Path(os.environ.get("AMR_STATE_DIR", "").strip() or PROJECT_DIR / ".local" / "state")
    return StackConfig(
        host=HOST,
        emulator_port=_int_env("EMULATOR_PORT", 5000),
        api_port=_int_env("API_PORT", 8000),
        state_dir=state_dir.resolve(),
        snapshot_seconds=max(0.5, _float_env("AMR_SNAPSHOT_SECONDS", 5.0)),
        bridge_workers=max(1, _int_env("AMR_BRIDGE_WORKERS", 2)),
        max_receives=max(1, _int_env("AMR_EVENT_MAX_RECEIVES", 3)),
        drain_seconds=max(0.0, _float_env("AMR_DRAIN_SECONDS", 30.0)),
        scheduler_enabled=os.environ.get("AMR_SCHEDULER", "on").strip().lower() not in ("off", "0", "false", "no"),
        admin_username=os.environ.get("AMR_ADMIN_USERNAME", "").strip() or "admin",
        admin_password=os.environ.get("AMR_ADMIN_PASSWORD") or None,
        admin_email=os.environ.get("AMR_ADMIN_EMAIL", "").strip() or None,
    )


def jwt_secret(state_dir: Path) -> str:
    """The signing secret: `AMR_JWT_SECRET` if set, else one generated once and kept.

    Kept in the state directory (mode 0600) so tokens issued before a restart still work.
    """
    given = os.environ.get("AMR_JWT_SECRET", "").strip()
    if given:
        return given
    path = state_dir / JWT_SECRET_FILE
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    value = secrets.token_urlsafe(48)
    state_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, value.encode("utf-8"), mode=0o600)
    return value


def apply_app_environment(config: StackConfig) -> None:
    """Point the app at the emulator; must run before `app` or `chalicelib` is imported.

    Explicit user overrides of resource names stay as they are; credentials are dummies
    because the emulator accepts any key.
    """
    env = os.environ
    env["AMR_STAGE"] = "local"
    env["AMR_AWS_ENDPOINT_URL"] = config.emulator_url
    env["AWS_REGION"] = REGION
    env["AWS_DEFAULT_REGION"] = REGION
    env["AWS_ACCESS_KEY_ID"] = "local"
    env["AWS_SECRET_ACCESS_KEY"] = "local"
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_SECURITY_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    env["AMR_JWT_SECRET"] = jwt_secret(config.state_dir)
    env.setdefault("AMR_PUBLIC_URL", config.api_url)  # links in notifications
    env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AMRLocal")
    # EMF metric lines on every request drown the console; set it to false to see them.
    env.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    env.setdefault("POWERTOOLS_SERVICE_NAME", "amr")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def running_stack(config: StackConfig | None = None) -> StackConfig | None:
    """The configuration of the stack running on this state directory (found through its
    `runtime.json`), or None when none runs there."""
    cfg = config or load_config()
    runtime = read_json(cfg.state_dir / RUNTIME_FILE)
    if runtime is None or not _alive(int(runtime.get("pid", 0))):
        return None  # never started, or left behind by a killed stack
    port = int(str(runtime["emulator_url"]).rsplit(":", 1)[1])
    return StackConfig(**{**cfg.__dict__, "emulator_port": port})
