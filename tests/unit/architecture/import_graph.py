"""The project's import graph from its source (ast, nothing imported), and its cycles.

Every import counts, wherever it stands: at the top, inside a function, under
``if TYPE_CHECKING``. ``from a.b import c`` is an import of ``a.b.c`` when that is a module of the
project, else of ``a.b``; relative imports are resolved. As in grimp and import-linter, importing
``a.b.c`` is not counted as importing the package ``a.b`` (Python runs ``a/b/__init__.py`` first,
before anything in ``a.b.c`` can import back, so that edge cannot form a cycle).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

Graph = dict[str, set[str]]


def module_name(path: Path, root: Path) -> str:
    """``root/a/b/c.py`` -> ``a.b.c``; ``root/a/b/__init__.py`` -> ``a.b``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(sources: Iterable[tuple[Path, Path]]) -> dict[str, Path]:
    """Modules by name, from (root, file or directory under it) pairs."""
    modules: dict[str, Path] = {}
    for root, where in sources:
        files = [where] if where.is_file() else sorted(where.rglob("*.py"))
        for path in files:
            if "__pycache__" not in path.parts:
                modules[module_name(path, root)] = path
    return modules


def _imported(node: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, list[str]]]:
    """(imported module, names taken from it) for one import statement."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, []
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            anchor = package[: len(package) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        yield base, [alias.name for alias in node.names]


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project's modules that module ``name`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        for target, names in _imported(node, name, is_package):
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            if submodules:
                found.update(submodules)
            if len(submodules) < len(names) or not names:
                found.update(_known_prefix(target, modules))
    found.discard(name)
    return found


def _known_prefix(target: str, modules: dict[str, Path]) -> list[str]:
    """``a.b.c`` itself if it is a project module, else its longest prefix that is one."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return [candidate]
    return []


def build_graph(modules: dict[str, Path]) -> Graph:
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle (a path back to its start) per strongly connected component that has one."""
    found = []
    for component in _strongly_connected(graph):
        members = set(component)
        if len(component) > 1 or component[0] in graph.get(component[0], ()):
            found.append(_cycle_within(graph, members, min(component)))
    return sorted(found)


def _strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on deep graphs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            nxt = next((e for e in edges if e in graph), None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _cycle_within(graph: Graph, members: set[str], start: str) -> list[str]:
    """The shortest path from ``start`` back to itself inside one component (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start} is in a component without a cycle")
