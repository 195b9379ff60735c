"""The JMX exporter configs the compose images load, run by the pinned agent in a real JVM.

docker/jmx/schema-registry.yml (compose only) is loaded by the same agent jar devstack pins
(devstack/pom.xml); a config the agent rejects stops the JVM, so this is the check that the
registry container would start and serve metrics. Also: the Kafka image matches the native
stack's Kafka release line."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from devstack.config import StackConfig
from tests.docker.conftest import DOCKER_DIR, DOCKERFILE, REPO
from tests.docker.helpers import parse_dockerfile, split_image

# Confluent Platform release line -> the Apache Kafka release line it ships.
CONFLUENT_TO_KAFKA = {"7.7": "3.7", "7.8": "3.8", "7.9": "3.9", "8.0": "4.0", "8.1": "4.1"}

SLEEPER = """
public class Sleeper {
    public static void main(String[] args) throws Exception { Thread.sleep(60_000); }
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape_with_agent(jar: Path, config: Path, tmp_path: Path) -> str:
    java = shutil.which("java")
    assert java, "java is missing (devstack installs it)"
    source = tmp_path / "Sleeper.java"
    source.write_text(SLEEPER)
    port = _free_port()
    process = subprocess.Popen(
        [java, f"-javaagent:{jar}=127.0.0.1:{port}:{config}", str(source)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the JVM with the agent exited: {process.stderr.read()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    return r.read().decode()
            except OSError:
                time.sleep(0.3)
        pytest.fail("the JMX exporter agent never answered")
    finally:
        process.kill()
        process.wait(10)


def test_schema_registry_exporter_config_loads_in_the_pinned_agent(
    stack: StackConfig, tmp_path: Path
) -> None:
    config = DOCKER_DIR / "jmx" / "schema-registry.yml"
    body = _scrape_with_agent(stack.jmx_exporter_jar, config, tmp_path)
    # The include list and the catch-all rule let the JVM's memory MBean through, lower-cased.
    assert re.search(r"^java_lang_memory_heapmemoryusage_used\b", body, flags=re.M), body[:2000]
    assert "jvm_memory" in body


def test_kafka_image_runs_the_native_stack_s_kafka_release_line() -> None:
    dockerfile = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    _, tag, _ = split_image(dockerfile.args["KAFKA_IMAGE"])
    assert tag is not None
    confluent_line = ".".join(tag.split(".")[:2])
    pom = (REPO / "devstack" / "pom.xml").read_text(encoding="utf-8")
    kafka_version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert kafka_version, "devstack/pom.xml pins no kafka.version"
    assert kafka_version.group(1).startswith(CONFLUENT_TO_KAFKA[confluent_line] + "."), (
        f"compose runs Confluent {tag} (Kafka {CONFLUENT_TO_KAFKA[confluent_line]}), "
        f"the native stack Kafka {kafka_version.group(1)}"
    )
    _, registry_tag, _ = split_image(dockerfile.args["SCHEMA_REGISTRY_IMAGE"])
    assert registry_tag == tag, "the registry and the brokers come from one Confluent release"
