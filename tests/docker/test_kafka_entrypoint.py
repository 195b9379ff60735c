"""docker/kafka/run-with-jmx-agent.sh, the kafka-broker image's entrypoint: the JMX agent and the
broker heap reach the broker JVM's environment only, and a missing exporter config stops it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.docker.conftest import DOCKER_DIR

SCRIPT = DOCKER_DIR / "kafka" / "run-with-jmx-agent.sh"


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    fake_run = tmp_path / "run"
    fake_run.write_text(
        '#!/bin/sh\necho "OPTS=$KAFKA_OPTS"\necho "HEAP=$KAFKA_HEAP_OPTS"\necho "ARGS=$*"\n'
    )
    fake_run.chmod(0o755)
    base = {"PATH": os.environ["PATH"], "CONFLUENT_RUN": str(fake_run)}
    return subprocess.run(
        ["bash", str(SCRIPT), "extra"], env={**base, **env}, capture_output=True, text=True
    )


def test_adds_the_agent_and_the_heap_for_the_broker(tmp_path: Path) -> None:
    config = tmp_path / "kafka.yml"
    config.write_text("rules: []\n")
    result = _run(
        tmp_path,
        JMX_EXPORTER_PORT="7071",
        JMX_EXPORTER_CONFIG=str(config),
        BROKER_HEAP_OPTS="-Xmx512m",
        KAFKA_OPTS="-Dexisting=1",
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert lines["OPTS"] == (
        f"-Dexisting=1 -javaagent:/opt/jmx-exporter/jmx_prometheus_javaagent.jar=7071:{config}"
    )
    assert lines["HEAP"] == "-Xmx512m"
    assert lines["ARGS"] == "extra"


def test_refuses_to_start_without_the_exporter_config(tmp_path: Path) -> None:
    result = _run(tmp_path, JMX_EXPORTER_CONFIG=str(tmp_path / "missing.yml"))
    assert result.returncode == 1
    assert "missing" in result.stderr and "monitoring/jmx/kafka.yml" in result.stderr


def test_writes_the_healthcheck_client_settings_for_the_broker_only(tmp_path: Path) -> None:
    config = tmp_path / "kafka.yml"
    config.write_text("rules: []\n")
    properties = tmp_path / "client.properties"
    result = _run(
        tmp_path,
        JMX_EXPORTER_CONFIG=str(config),
        BROKER_CLIENT_PASSWORD="test-only-broker",
        KAFKA_SSL_TRUSTSTORE_LOCATION="/certs/public/ca.pem",
        BROKER_CLIENT_PROPERTIES=str(properties),
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in properties.read_text().splitlines())
    assert lines["security.protocol"] == "SASL_SSL" and lines["sasl.mechanism"] == "PLAIN"
    assert lines["ssl.truststore.location"] == "/certs/public/ca.pem"
    assert 'username="broker" password="test-only-broker";' in lines["sasl.jaas.config"]
    assert properties.stat().st_mode & 0o077 == 0
