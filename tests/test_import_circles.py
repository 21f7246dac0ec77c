"""No import circle in esap_core: every module's imports (at the top and inside functions) form a tree of floors."""

from __future__ import annotations

import ast
from pathlib import Path

import esap_core

PACKAGE = Path(esap_core.__file__).parent
SKIPPED = {"migrations", "scaffold"}  # Alembic's scripts and the template a new plugin is copied from


def core_modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if SKIPPED & set(relative.parts):
            continue
        name = ".".join(relative.parts).removesuffix(".__init__")
        modules[name] = path
    return modules


def imported(node: ast.Import | ast.ImportFrom, package: str, modules: dict[str, Path]) -> set[str]:
    """The core modules an import statement loads; ``from package import module`` counts as the module only."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names} & modules.keys()
    base = node.module or ""
    if node.level:
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*parts, base] if base else parts)
    submodules = {f"{base}.{alias.name}" for alias in node.names} & modules.keys()
    if len(submodules) == len(node.names):
        return submodules
    return ({base} & modules.keys()) | submodules


def import_graph() -> dict[str, set[str]]:
    modules = core_modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets |= imported(node, package, modules)
        graph[name] = targets - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while (member := stack.pop()) != node:
                        group.append(member)
                    group.append(node)
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def test_the_core_has_no_import_circle():
    graph = import_graph()
    assert len(graph) > 40 and "esap_core.hookspecs" in graph  # the walk saw the whole core
    assert circles(graph) == []


def test_the_walk_finds_a_circle_and_reads_imports_as_python_does():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
    modules = {"p": Path("p/__init__.py"), "p.m": Path("p/m.py"), "p.n": Path("p/n.py")}
    assert imported(ast.parse("from p import m").body[0], "p", modules) == {"p.m"}
    assert imported(ast.parse("from p import thing").body[0], "p", modules) == {"p"}
    assert imported(ast.parse("from . import n").body[0], "p", modules) == {"p.n"}
    assert imported(ast.parse("from .m import thing").body[0], "p", modules) == {"p.m"}
