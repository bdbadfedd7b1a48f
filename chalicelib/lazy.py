"""Modules loaded on first use, to keep every function's cold start small.

All functions (API, prediction, maintenance) import the same `app.py`; a module only
some of them need (the accounts and jobs routes, the pydantic request models) is bound
here as a lazy module and executed when an attribute is first read, so a function that
never touches it never pays for it.
"""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """`name` as a module object whose code runs on first attribute access."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
