"""The project's import graph, read from the source (AST, nothing imported): no cycle anywhere, the production
code (stacks/, modules/, environments/) imports no tool, and no module assigns to another module's globals."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("environments", "fast_bindings", "modules", "stacks", "tests", "tools")
PRODUCTION = ("environments", "modules", "stacks")


@functools.cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


@functools.cache
def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file, for main.py and every module of the project's packages."""
    found = {"main": root / "main.py"}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def run_time_nodes(tree: ast.AST):
    """Every node, those under `if TYPE_CHECKING:` left out (read by type checkers only, never imported)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            continue
        yield node
        yield from run_time_nodes(node)


def imported(tree: ast.Module, name: str, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its body (function-level imports included)."""
    targets = set()
    for node in run_time_nodes(tree):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets |= {
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                for alias in node.names
            }
    return {target for target in targets if target in modules and target != name}


def graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    return {name: imported(parsed(path), name, modules) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def foreign_global_writes(tree: ast.Module, modules: dict[str, Path]) -> list[str]:
    """`other.NAME = ...` where `other` is a project module bound by an import in this file."""
    bound = {
        alias.asname or alias.name.split(".")[0]: alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    bound |= {
        alias.asname or alias.name: f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    return [
        f"{node.lineno}: {target.value.id}.{target.attr}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and bound.get(target.value.id) in modules
    ]


def test_cycles_finds_a_cycle_and_only_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_project_s_modules():
    modules = project_modules()
    edges = graph(modules)
    assert "tools.rehearsal.e2e" in modules and edges["tools.rehearsal.e2e"], "the graph reads the tools"
    assert not cycles(edges), cycles(edges)


def test_production_code_imports_no_tool():
    modules = project_modules()
    edges = graph(modules)
    production = [name for name in modules if name.split(".")[0] in PRODUCTION]
    offending = {name: sorted(t for t in edges[name] if t.split(".")[0] in ("tools", "tests")) for name in production}
    assert production and not {name: found for name, found in offending.items() if found}


def test_foreign_global_writes_are_found():
    modules = {"tools.x": Path("x.py")}
    tree = ast.parse("from tools import x\nimport tools.x as y\nx.WORK = 1\ny.DONE = 2\nz = 3\n")
    assert foreign_global_writes(tree, modules) == ["3: x.WORK", "4: y.DONE"]


def test_no_module_assigns_to_another_module_s_globals():
    modules = project_modules()
    writes = {name: found for name, path in modules.items() if (found := foreign_global_writes(parsed(path), modules))}
    assert not writes, writes
