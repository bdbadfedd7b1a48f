"""The layout of `chalicelib/` (design §11, §18): one package per domain, no import cycles, and
reads mode in its own subpackage (`prediction/reads/`) that the assembly side never loads.

Imports are read from the source (every `import`, at any depth, including imports inside
functions and under TYPE_CHECKING, and `lazy_import("...")` names), so a cycle hidden in
a lazy import fails here too, not first in production.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "chalicelib"
DOMAINS = ("core", "accounts", "jobs", "batches", "prediction", "maintenance", "notifications", "gateway")
#: Who may import whom: a package sees only those listed before it (and itself).
LAYERS = {
    "core": set(),
    "accounts": {"core"},
    "jobs": {"core"},
    "batches": {"core", "jobs"},
    "prediction": {"core", "accounts", "jobs", "batches"},
    "maintenance": {"core", "jobs", "batches"},
    "notifications": {"core", "accounts", "jobs", "batches"},
    "gateway": {"core", "accounts", "jobs", "batches", "maintenance"},
}
#: Every package's __init__, subpackages included ("__init__.py" is chalicelib's own).
PACKAGE_INITS = sorted(p.relative_to(LIB).as_posix() for p in LIB.rglob("__init__.py"))
READS = "chalicelib.prediction.reads"
#: Outside the reads subpackage only the runner, which runs jobs of both kinds, imports it.
READS_USERS = {"chalicelib.prediction.runner"}
#: The predictors of both modes share their result types through this module.
RESULTS = "chalicelib.prediction.results"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(LIB.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The chalicelib module `name` refers to (an attribute of a module counts as that module)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every chalicelib module that the file at `path` imports, at any depth."""
    found: set[str] = set()
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("lazy_import", "import_module") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        for name in names:
            if name.startswith("chalicelib"):
                target = _resolve(name, modules)
                # `from chalicelib.jobs import lifecycle` names the submodule, not the package
                if target and target != here and not modules[target].name == "__init__.py":
                    found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_reports_a_cycle_and_accepts_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_are_read_at_any_depth() -> None:
    modules = all_modules()
    graph = import_graph()
    assert "chalicelib.accounts.auth" in graph["chalicelib.gateway.middleware"]  # imported inside a function
    assert "chalicelib.core.web" in graph["chalicelib.accounts.auth"]  # from ... import Caller
    assert "chalicelib.jobs.schemas" in graph["chalicelib.prediction.inbox"]  # lazy_import("...")
    assert "chalicelib.prediction.reads.families" in graph["chalicelib.prediction.reads.predictor"]  # a subpackage
    assert set(graph) == set(modules)


def test_no_import_cycle_between_modules() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else None


def test_packages_are_the_domains_and_import_only_lower_layers() -> None:
    packages = {p.name for p in LIB.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(DOMAINS), "chalicelib/ holds one package per domain (see chalicelib/__init__.py)"
    assert not [p.name for p in LIB.glob("*.py") if p.name != "__init__.py"], "modules belong in a domain package"
    wrong = []
    for module, targets in import_graph().items():
        src = _package(module)
        for target in targets:
            dst = _package(target)
            if src and dst and dst != src and dst not in LAYERS[src]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layering: " + ", ".join(sorted(wrong))


def test_every_package_init_is_checked() -> None:
    assert {"__init__.py", "prediction/reads/__init__.py"} | {f"{d}/__init__.py" for d in DOMAINS} <= set(PACKAGE_INITS)


@pytest.mark.parametrize("init", PACKAGE_INITS)
def test_package_inits_import_nothing(init: str) -> None:
    """An __init__ that imported its modules would load them all at cold start."""
    tree = ast.parse((LIB / init).read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def _in_reads(module: str) -> bool:
    return module == READS or module.startswith(READS + ".")


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module that importing `start` may load (its imports, theirs, and so on)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_reads_mode_is_imported_only_by_the_runner() -> None:
    graph = import_graph()
    assert any(_in_reads(m) for m in graph), "the reads subpackage exists"
    users = {m for m, targets in graph.items() if not _in_reads(m) and any(_in_reads(t) for t in targets)}
    assert users <= READS_USERS, f"modules outside {READS} that import it: {sorted(users - READS_USERS)}"


@pytest.mark.parametrize("module", ["acquired", "fasta", "results", "render", "phenotypes", "pointfinder"])
def test_assembly_and_shared_modules_never_load_reads_mode(module: str) -> None:
    loaded = reachable(import_graph(), f"chalicelib.prediction.{module}")
    assert not sorted(m for m in loaded if _in_reads(m))


def test_reads_modules_take_result_types_from_results_not_the_assembly_predictor() -> None:
    graph = import_graph()
    reads_modules = sorted(m for m in graph if _in_reads(m))
    assert not [m for m in reads_modules if "chalicelib.prediction.acquired" in reachable(graph, m)]
    assert RESULTS in graph[f"{READS}.predictor"] and RESULTS in graph["chalicelib.prediction.acquired"]
