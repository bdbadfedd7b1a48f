"""Fixtures the unit tests share."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from chalicelib.prediction.resfinder_db import DEFAULT_DB_DIR, load_db

DB_PRESENT = Path(os.environ.get("AMR_RESFINDER_DB") or DEFAULT_DB_DIR, "config").is_file()


@pytest.fixture(scope="module")
def db():  # type: ignore[no-untyped-def]
    if not DB_PRESENT:
        pytest.skip("ResFinder database not installed")
    return load_db()
