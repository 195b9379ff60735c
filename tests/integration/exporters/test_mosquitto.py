"""The Mosquitto exporter, run as a process against the real broker, serves its $SYS figures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.config import StackConfig

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.labels
    }


def test_exporter_serves_broker_statistics(stack: StackConfig, mqtt_port: int) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "iot_pipeline.exporters.mosquitto",
            "--mqtt-port",
            str(mqtt_port),
            "--mqtt-username",
            "mosquitto-exporter",
            "--port",
            str(port),
        ],
        env={**os.environ, "MQTT_PASSWORD": stack.mqtt_password("mosquitto-exporter")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        values: dict[str, float] = {}
        while time.monotonic() < deadline:
            values = _scrape(port)
            # $SYS figures are republished every sys_interval (10 s): the retained ones delivered on
            # subscribe may predate the exporter's own connection.
            if values.get("mosquitto_broker_up") == 1.0 and values.get(
                "mosquitto_clients_connected"
            ):
                break
            time.sleep(0.5)
        assert values.get("mosquitto_broker_up") == 1.0, values
        assert values["mosquitto_uptime_seconds"] > 0
        assert values["mosquitto_clients_connected"] >= 1  # the exporter itself at least
        assert values["mosquitto_messages_received_total"] > 0
    finally:
        proc.terminate()
        proc.wait(10)
