"""Modules loaded on first use, to keep every function's cold start small.

All functions (API, prediction, maintenance) import the same `app.py`; a module only
some of them need (the accounts and jobs routes, the pydantic request models) is bound
to a proxy that imports it when an attribute is first read, so a function that never
touches it never pays for it.

Written here rather than using `importlib.util.LazyLoader` because that loader is not
thread-safe on Python 3.11: two threads touching the module at once can see it half
initialised (the local stack serves requests and events from several threads).
`importlib.import_module` takes the import lock, so the proxy is safe.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for a module until an attribute is read, then delegates to it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def _load(self) -> ModuleType:
        if self._module is None:
            with self._lock:
                if self._module is None:
                    self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_import(name: str) -> Any:
    """`name` as an object whose module is imported on first attribute access."""
    return LazyModule(name)
