"""Every library hpsearch imports is declared: the core in [project] dependencies, the rest in an
extra and imported only inside the function that needs it."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"sklearn": "scikit-learn", "yaml": "pyyaml", "distributed": "dask",
                 "tensorboardX": "tensorboardx"}


def declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements):
        return {r.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
                for r in requirements}

    extras = set().union(*(names(v) for v in project["optional-dependencies"].values()))
    return names(project["dependencies"]), extras


def imports(path: Path) -> tuple[set[str], set[str]]:
    """Third-party modules a file imports at its top level, and inside functions."""
    top, inner = set(), set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found = {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found = {node.module.split(".")[0]}
        else:
            continue
        found = {m for m in found if m not in sys.stdlib_module_names and m != "hpsearch"}
        (top if node.col_offset == 0 else inner).update(found)
    return top, inner


def test_every_import_is_declared():
    core, extras = declared()
    for path in sorted((ROOT / "hpsearch").rglob("*.py")):
        top, inner = imports(path)
        for module in top:
            assert DISTRIBUTIONS.get(module, module) in core, f"{path.name}: {module}"
        for module in inner:
            assert DISTRIBUTIONS.get(module, module) in core | extras, f"{path.name}: {module}"
