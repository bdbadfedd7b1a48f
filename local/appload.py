"""Load the Chalice app the way `chalice local` does (stage config, env vars, import)."""

from __future__ import annotations

from chalice.app import Chalice
from chalice.cli.factory import CLIFactory
from chalice.config import Config

from local.config import PROJECT_DIR

STAGE = "local"


def load_app() -> tuple[Chalice, Config]:
    """Import `app.app` with the `local` stage's environment variables from `.chalice/config.json`.

    Call only after `local.config.apply_app_environment`, so the app binds to the emulator.
    """
    config = CLIFactory(project_dir=str(PROJECT_DIR)).create_config_obj(chalice_stage_name=STAGE)
    return config.chalice_app, config
