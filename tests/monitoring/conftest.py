"""Fixtures of the monitoring tests: the generator module and paths of the monitoring files."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from devstack.config import REPO_ROOT

MONITORING = REPO_ROOT / "monitoring"
RULES = MONITORING / "prometheus" / "rules" / "alert_rules.yml"
RULE_TESTS = MONITORING / "prometheus" / "tests" / "alert_rules_test.yml"


@pytest.fixture(scope="session")
def generate() -> ModuleType:
    """monitoring/generate.py, loaded by path (monitoring/ is not a Python package)."""
    spec = importlib.util.spec_from_file_location("monitoring_generate", MONITORING / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: it comes with Debian's prometheus/prometheus-alertmanager "
            "packages, which `make up` installs",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _tool("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return _tool("amtool")


def copy_tree(dst: Path) -> Path:
    """A copy of monitoring/prometheus (rules and their tests) to change in a test."""
    target = dst / "prometheus"
    shutil.copytree(MONITORING / "prometheus", target)
    return target
