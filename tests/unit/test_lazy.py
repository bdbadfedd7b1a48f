"""Lazy modules: nothing runs before first use, and racing first uses are safe."""
from __future__ import annotations

import sys
import threading
import types

import pytest

from chalicelib.core.lazy import lazy_import


@pytest.fixture
def slow_module(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A module whose import takes a while, defining its attribute last."""
    (tmp_path / "amr_slow_mod.py").write_text("import time\nSTARTED = True\ntime.sleep(0.2)\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "amr_slow_mod"
    sys.modules.pop("amr_slow_mod", None)


def test_nothing_is_imported_before_first_use(slow_module: str) -> None:
    module = lazy_import(slow_module)
    assert slow_module not in sys.modules
    assert module.VALUE == 42
    assert isinstance(sys.modules[slow_module], types.ModuleType)


def test_racing_first_uses_see_a_complete_module(slow_module: str) -> None:
    module = lazy_import(slow_module)
    barrier = threading.Barrier(4)
    seen: list[object] = []

    def use() -> None:
        barrier.wait()
        try:
            seen.append(module.VALUE)
        except AttributeError as exc:  # a half-initialised module
            seen.append(exc)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [42, 42, 42, 42]
