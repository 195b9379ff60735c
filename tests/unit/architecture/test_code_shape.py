"""The size limits the project holds its library to: small modules, short functions.

A module over MAX_MODULE_LINES or a function over MAX_FUNCTION_LINES is a sign that several
concerns share one place; split it along a real seam rather than raising a limit here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "iot_pipeline"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def module_lines(source: str) -> int:
    return len(source.splitlines())


def long_functions(source: str, limit: int) -> list[tuple[str, int, int]]:
    """(name, first line, length) of every function or method longer than ``limit`` lines,
    decorators excluded, docstring included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                found.append((node.name, node.lineno, length))
    return found


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_the_library_has_modules_to_check() -> None:
    assert len(_modules()) > 20


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_is_small(path: Path) -> None:
    lines = module_lines(path.read_text())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(SRC)} has {lines} lines"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_functions_are_short(path: Path) -> None:
    assert long_functions(path.read_text(), MAX_FUNCTION_LINES) == []


def test_long_functions_finds_a_long_function_and_ignores_short_ones() -> None:
    body = "\n".join(f"        x{i} = {i}" for i in range(61))
    source = f"def short():\n    return 1\n\n\nclass C:\n    def long(self):\n{body}\n"
    assert long_functions(source, 60) == [("long", 6, 62)]
    assert long_functions(source, 62) == []


def test_module_lines_counts_lines() -> None:
    assert module_lines("a = 1\nb = 2\n") == 2
