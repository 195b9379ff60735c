"""docker/healthcheck.py, the Python images' HEALTHCHECK, against real HTTP servers on loopback."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from iot_pipeline.config.settings import Settings
from tests.docker.conftest import REPO

SCRIPT = REPO / "docker" / "healthcheck.py"


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docker_healthcheck", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def metrics_server() -> Iterator[int]:
    registry = CollectorRegistry()
    Counter("iot_test_requests", "A counter so the endpoint has content", registry=registry).inc()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(5)


class _NotMetrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def html_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotMetrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(5)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in Settings.model_fields and key != "IOT_CONFIG_FILE"
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=tmp_path,  # no stray .env
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_healthy_when_the_metrics_endpoint_answers(tmp_path: Path, metrics_server: int) -> None:
    result = _run(tmp_path, "sink_metrics_port", SINK_METRICS_PORT=str(metrics_server))
    assert result.returncode == 0, result.stderr


def test_the_port_comes_from_the_named_setting(tmp_path: Path, metrics_server: int) -> None:
    # The adapter's port points at the live server, the sink's does not: only the first is healthy.
    env = {"ADAPTER_METRICS_PORT": str(metrics_server), "SINK_METRICS_PORT": str(_closed_port())}
    assert _run(tmp_path, "adapter_metrics_port", **env).returncode == 0
    assert _run(tmp_path, "sink_metrics_port", **env).returncode == 1


def test_unhealthy_when_nothing_listens(tmp_path: Path) -> None:
    result = _run(tmp_path, "alerts_metrics_port", ALERTS_METRICS_PORT=str(_closed_port()))
    assert result.returncode == 1
    assert "unreachable" in result.stderr


def test_unhealthy_when_the_answer_is_not_prometheus_text(tmp_path: Path, html_server: int) -> None:
    result = _run(tmp_path, "simulator_metrics_port", SIMULATOR_METRICS_PORT=str(html_server))
    assert result.returncode == 1
    assert "not with Prometheus metrics" in result.stderr


def test_unhealthy_when_metrics_are_switched_off(tmp_path: Path) -> None:
    result = _run(tmp_path, "sink_metrics_port", SINK_METRICS_PORT="0")
    assert result.returncode == 1
    assert "SINK_METRICS_PORT=0" in result.stderr


def test_unhealthy_with_a_clear_message_when_settings_are_invalid(tmp_path: Path) -> None:
    result = _run(tmp_path, "sink_metrics_port", SINK_METRICS_PORT="not-a-port")
    assert result.returncode == 1
    assert "SINK_METRICS_PORT" in result.stderr


def test_a_literal_port_is_probed_directly(tmp_path: Path, metrics_server: int) -> None:
    assert _run(tmp_path, str(metrics_server)).returncode == 0
    result = _run(tmp_path, str(_closed_port()))
    assert result.returncode == 1 and "unreachable" in result.stderr


@pytest.mark.parametrize(
    "args", [(), ("kafka_topic_name",), ("no_such_field",), ("a", "b"), ("0",), ("70000",)]
)
def test_usage_errors(tmp_path: Path, args: tuple[str, ...]) -> None:
    assert _run(tmp_path, *args).returncode == 2


def test_every_metrics_port_setting_is_accepted(healthcheck: ModuleType) -> None:
    ports = [name for name in Settings.model_fields if name.endswith("_metrics_port")]
    assert set(ports) >= {
        "simulator_metrics_port",
        "adapter_metrics_port",
        "sink_metrics_port",
        "alerts_metrics_port",
    }
    assert healthcheck.metrics_url(8003) == "http://127.0.0.1:8003/metrics"


def test_probe_reports_reasons(healthcheck: ModuleType, metrics_server: int) -> None:
    assert healthcheck.probe(healthcheck.metrics_url(metrics_server)) is None
    reason = healthcheck.probe(healthcheck.metrics_url(_closed_port()), timeout=2)
    assert reason is not None and "unreachable" in reason
