"""The layers, read from every import statement (lazy and type-only ones included): no module
imports itself through others, and the packages keep to their jobs."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "hpsearch"


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_of(p): p for p in ROOT.rglob("*.py")}


def imported(module: str) -> set[str]:
    """The hpsearch modules `module` imports (a name imported from a package counts as its
    module when it is one)."""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        else:
            continue
        found |= {n for n in names if n in MODULES and n != module}
    return found


GRAPH = {m: imported(m) for m in MODULES}


def reaches(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_no_module_imports_itself_through_others():
    # a package's __init__ re-exporting its modules is how packages work: not a cycle
    looped = [m for m in MODULES if m in reaches(m) and not MODULES[m].name == "__init__.py"]
    assert looped == []


def test_the_packages_keep_to_their_jobs():
    def within(prefix: str) -> list[str]:
        return [m for m in MODULES if m == prefix or m.startswith(prefix + ".")]

    def imports_of(modules: list[str]) -> set[str]:
        return set().union(*(GRAPH[m] for m in modules))

    # config/ validates files and data: it never opens a store
    assert {m for m in imports_of(within("hpsearch.config")) if m.startswith("hpsearch.store")} \
        == set()
    # a strategy is handed its history: search/ never reads runs or a store
    assert imports_of(within("hpsearch.search")) & {
        "hpsearch.runs", "hpsearch.api", "hpsearch.driver", *within("hpsearch.store")} == set()
    # the dashboard reads through the read side alone
    assert {m for m in GRAPH["hpsearch.dashboard"] if m.startswith("hpsearch.store")} == set()
    assert "hpsearch.runs" in GRAPH["hpsearch.dashboard"]
