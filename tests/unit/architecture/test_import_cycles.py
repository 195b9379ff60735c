"""No import cycle anywhere in the project, imports inside functions included; and the check
itself finds cycles (synthetic packages in tmp_path)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from tests.unit.architecture.import_graph import build_graph, cycles, find_modules

REPO = Path(__file__).resolve().parents[3]
PROJECT = [
    (REPO / "src", REPO / "src" / "iot_pipeline"),
    *((REPO, REPO / name) for name in ("devstack", "bench", "tests", "docker", "monitoring")),
    *((REPO, path) for path in sorted(REPO.glob("run_*.py"))),
]


def test_the_project_has_no_import_cycle() -> None:
    modules = find_modules(PROJECT)
    assert "iot_pipeline.adapter.service" in modules
    assert "devstack.cli" in modules
    assert "tests.unit.architecture.import_graph" in modules
    found = cycles(build_graph(modules))
    assert found == [], "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def _package(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text))
    return find_modules([(root, root / "pkg")])


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path: Path) -> None:
    modules = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/cli.py": "from pkg.runner import run\n",
            "pkg/runner.py": "def run():\n    from pkg.cli import main\n    return main\n",
        },
    )
    assert cycles(build_graph(modules)) == [["pkg.cli", "pkg.runner", "pkg.cli"]]


def test_cycles_through_from_package_import_module_and_relative_imports(tmp_path: Path) -> None:
    modules = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "from . import c\n",
            "pkg/c.py": "if False:\n    from .a import thing\n",
            "pkg/sub/__init__.py": "from .x import y\n",
            "pkg/sub/x.py": "from .. import sub\n",
        },
    )
    assert cycles(build_graph(modules)) == [
        ["pkg.a", "pkg.b", "pkg.c", "pkg.a"],
        ["pkg.sub", "pkg.sub.x", "pkg.sub"],
    ]


def test_no_cycle_when_imports_only_go_one_way(tmp_path: Path) -> None:
    modules = _package(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.api import api\n",
            "pkg/api.py": "import json\nimport pkg.core\nfrom pkg.core import helper\n",
            "pkg/core/__init__.py": "",
            "pkg/core/helper.py": "import os\nfrom pkg.core import other\n",
            "pkg/core/other.py": "from os import path\n",
        },
    )
    graph = build_graph(modules)
    assert graph["pkg.api"] == {"pkg.core", "pkg.core.helper"}
    assert graph["pkg.core.helper"] == {"pkg.core.other"}
    # A submodule importing its own package's name is not a cycle: the package ran first.
    assert cycles(graph) == []
