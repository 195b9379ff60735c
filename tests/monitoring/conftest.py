"""Fixtures of the monitoring tests: paths and the generator module; for the live tests, the stack's
Prometheus/Alertmanager on this checkout's configuration and the running pipeline."""

from __future__ import annotations

import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devstack.config import REPO_ROOT, StackConfig

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


# ---------------------------------------------------------------------------- live fixtures
# The stack under test (a second one with IOT_STACK_PORT_OFFSET has its own Prometheus).
_STACK = StackConfig.from_env()
PROMETHEUS = f"http://127.0.0.1:{_STACK.prometheus_port}"
ALERTMANAGER = f"http://127.0.0.1:{_STACK.alertmanager_port}"
PIPELINE_PORTS = (8000, 8001, 8002, 8003, 8005)


def http_json(url: str, data: bytes | None = None, timeout: float = 10.0) -> Any:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def prom_query(expr: str) -> list[dict[str, Any]]:
    """Instant query; the result vector (or a one-element list for a scalar)."""
    url = f"{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    answer = http_json(url)
    assert answer["status"] == "success", answer
    data = answer["data"]
    if data["resultType"] == "scalar":
        return [{"metric": {}, "value": data["result"]}]
    return list(data["result"])


def scrape_targets() -> list[dict[str, Any]]:
    return list(http_json(f"{PROMETHEUS}/api/v1/targets?state=active")["data"]["activeTargets"])


def _metrics_answer(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def monitoring_live(stack: StackConfig) -> StackConfig:
    """The stack's Prometheus and Alertmanager running this checkout's configuration."""
    for base in (PROMETHEUS, ALERTMANAGER):
        urllib.request.urlopen(
            urllib.request.Request(f"{base}/-/reload", method="POST"), timeout=30
        )
    config = http_json(f"{PROMETHEUS}/api/v1/status/config")["data"]["yaml"]
    for job in ("kafka-lag", "mosquitto", "postgres", "node", "iot-timescaledb-sink"):
        assert f"job_name: {job}" in config, f"Prometheus does not run the committed config ({job})"
    return stack


@pytest.fixture(scope="module")
def pipeline(monitoring_live: StackConfig) -> Iterator[None]:
    """The whole pipeline running (`python -m devstack run`), unless it already runs; stopped
    after the module that needed it (it loads the 2 cores the rest of the suite shares)."""
    if all(_metrics_answer(p) for p in PIPELINE_PORTS):
        yield
        return
    log = (monitoring_live.logs_dir / "monitoring-test-pipeline.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack", "run"],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not all(_metrics_answer(p) for p in PIPELINE_PORTS):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the pipeline did not start; see {log.name}", pytrace=False)
            time.sleep(1)
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # devstack run stops its services cleanly on Ctrl-C
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
