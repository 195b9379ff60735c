"""Fixtures of the deployment tests: rendered overlays, a real kube-apiserver, the tool paths.

The tools (kustomize, kube-apiserver, etcd, checkov) are installed by
deploy/kubernetes/tools/install-tools.sh into ~/.cache/iot-pipeline/k8s on first use; building
kube-apiserver takes several minutes on 2 cores the first time, hence the long timeouts.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.deploy.apiserver import ApiServer

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "deploy" / "kubernetes" / "tools"
OVERLAYS = ("gke", "local")


def load_tool(name: str) -> ModuleType:
    """A script of deploy/kubernetes/tools as a module (the directory is not a package)."""
    spec = importlib.util.spec_from_file_location(f"k8s_tools_{name}", TOOLS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def render_tool() -> ModuleType:
    return load_tool("render")


@pytest.fixture(scope="session")
def generate_tool() -> ModuleType:
    return load_tool("generate")


@pytest.fixture(scope="session")
def tool(render_tool: ModuleType):
    cache: dict[str, str] = {}

    def path(name: str) -> str:
        if name not in cache:
            try:
                cache[name] = render_tool.tool_path(name)
            except subprocess.CalledProcessError as error:
                pytest.fail(f"install-tools.sh {name} failed:\n{error.stderr}")
        return cache[name]

    return path


@pytest.fixture(scope="session")
def rendered(render_tool: ModuleType, tool) -> dict[str, list[dict[str, Any]]]:
    """overlay -> its rendered objects (make k8s-render's output, parsed)."""
    kustomize = tool("kustomize")
    return {
        overlay: [
            d for d in yaml.safe_load_all(render_tool.kustomize_build(overlay, kustomize)) if d
        ]
        for overlay in OVERLAYS
    }


@pytest.fixture(scope="session")
def apiserver(tool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer(tool("kube-apiserver"), tool("etcd"), tmp_path_factory.mktemp("apiserver"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
