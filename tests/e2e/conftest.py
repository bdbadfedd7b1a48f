"""The `stack` fixture: one local stack per test module (see `localstack.py`)."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.e2e.localstack import Stack, free_port


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("local-stack")
    running = Stack(state_dir=root / "state", api_port=free_port(), emulator_port=free_port(), log_dir=root)
    try:
        running.start()
        yield running
    finally:
        running.kill()
