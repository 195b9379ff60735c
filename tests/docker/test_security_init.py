"""Compose's security init on real tools, without a Docker engine: cert-init's CA and certificates
(openssl), mqtt-auth-init's Mosquitto configuration, ACL and users run by a real Mosquitto with
the password file hashed as the compose broker's command does, and kafka-init's grants."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.docker.conftest import DOCKER_DIR, REPO

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
needs_mosquitto = pytest.mark.skipif(
    not (Path(MOSQUITTO).exists() and shutil.which("mosquitto_passwd")),
    reason="needs mosquitto and mosquitto_passwd (make up installs them)",
)


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, DOCKER_DIR / "init" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    os.environ.setdefault("DEVSTACK_PARENT", str(REPO))
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- cert-init ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("certs")
    env = {**os.environ, "CERTS_DIR": str(root), "TLS_EXTRA_NAMES": "DNS:gw-host.lan"}
    env["DEVSTACK_PARENT"] = str(REPO)
    result = subprocess.run(
        ["python3", str(DOCKER_DIR / "init" / "compose_certs.py")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return root


def openssl_text(cert: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text"], capture_output=True, text=True
    ).stdout


def test_cert_init_makes_a_certificate_per_server_signed_by_one_ca(certs: Path) -> None:
    ca = certs / "public" / "ca.pem"
    assert ca.stat().st_mode & 0o777 == 0o644
    for server, name in [
        ("mosquitto", "DNS:mosquitto"),
        ("timescaledb", "DNS:timescaledb"),
        ("kafka-broker-2", "DNS:kafka-broker-2"),
    ]:
        cert = certs / server / ("keystore.pem" if server.startswith("kafka") else "server.pem")
        verified = subprocess.run(
            ["openssl", "verify", "-CAfile", str(ca), str(cert)], capture_output=True, text=True
        )
        assert verified.returncode == 0, verified.stderr
        assert name in openssl_text(cert), server
        for path in (certs / server).iterdir():
            assert path.stat().st_mode & 0o077 == 0, path
    assert "DNS:gw-host.lan" in openssl_text(certs / "mosquitto" / "server.pem")
    assert "DNS:localhost" in openssl_text(certs / "kafka-broker-1" / "keystore.pem")
    # Kafka's PEM keystore: an unencrypted PKCS#8 key, then the certificate.
    keystore = (certs / "kafka-broker-1" / "keystore.pem").read_text()
    first = keystore.splitlines()[0]  # PKCS#8 ("BEGIN PRIVATE KEY"), not SEC1 or encrypted
    assert first.startswith("-----BEGIN") and first.endswith(" PRIVATE KEY-----")
    assert "EC" not in first and "ENCRYPTED" not in first
    assert "-----BEGIN CERTIFICATE-----" in keystore
    # The CA key never leaves the CA's own directory.
    assert not any(p.name == "ca.key" for p in certs.rglob("*") if "ca" not in p.parts)


def test_cert_init_keeps_what_it_made(certs: Path) -> None:
    before = (certs / "mosquitto" / "server.pem").read_bytes()
    env = {**os.environ, "CERTS_DIR": str(certs), "DEVSTACK_PARENT": str(REPO)}
    subprocess.run(["python3", str(DOCKER_DIR / "init" / "compose_certs.py")], env=env, check=True)
    assert (certs / "mosquitto" / "server.pem").read_bytes() == before


# --- mqtt-auth-init -----------------------------------------------------------------------------

SERVICE_SECRETS = {
    "MQTT_ADAPTER_PASSWORD": "test-only-adapter",
    "MQTT_SIMULATOR_PASSWORD": "test-only-simulator",
    "MQTT_EXPORTER_PASSWORD": "test-only-exporter",
}
GATEWAYS = "gw-a=gw-a-test-pw, gw-b=gw-b-test-pw, office/c8:25:2d:8e:9c:2c=office-test-pw"


def test_gateways_are_parsed_from_one_variable() -> None:
    module = load("mqtt_auth_files")
    parsed = module.parse_gateways(GATEWAYS)
    assert [(g.name, g.kind, g.mac, pw) for g, pw in parsed] == [
        ("gw-a", "esp32", "", "gw-a-test-pw"),
        ("gw-b", "esp32", "", "gw-b-test-pw"),
        ("office", "ruuvi-gateway", "C8:25:2D:8E:9C:2C", "office-test-pw"),
    ]
    assert module.parse_gateways("") == []
    for bad in ("gw-a", "gw-a=", "gw-a=x gw-a=y", "ruuvitag-adapter=x", "gw/not-a-mac=x"):
        with pytest.raises(ValueError):
            module.parse_gateways(bad)


def test_a_missing_service_password_stops_the_init() -> None:
    module = load("mqtt_auth_files")
    with pytest.raises(SystemExit, match="MQTT_EXPORTER_PASSWORD"):
        module.render(
            {**SERVICE_SECRETS, "MQTT_EXPORTER_PASSWORD": ""}, "", "/auth", "/certs/mosquitto"
        )


def test_the_compose_broker_allows_no_anonymous_client_on_any_listener() -> None:
    module = load("mqtt_auth_files")
    conf = module.compose_conf(
        (REPO / "mqtt" / "config" / "mosquitto.conf").read_text(), "/a", "/c"
    )
    lines = [line.strip() for line in conf.splitlines() if line.strip() and line[0] != "#"]
    assert "allow_anonymous false" in lines and "allow_anonymous true" not in lines
    assert "per_listener_settings false" in lines  # one password file and ACL for both
    assert [line for line in lines if line.startswith("listener")] == [
        "listener 1883",
        "listener 8883",
    ]
    assert "password_file /a/passwd" in lines and "acl_file /a/acl" in lines
    assert "persistence true" in lines and "max_queued_messages 0" in lines  # the project's


class Client:
    """A paho MQTT 5 client recording its CONNACK and the messages it gets."""

    def __init__(self, port: int, login: tuple[str, str] | None, ca: Path | None) -> None:
        self.connack: Any = None
        self.messages: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"init-test-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        if login:
            self.client.username_pw_set(*login)
        if ca:
            self.client.tls_set(ca_certs=str(ca))
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, m.payload))
        self.client.connect("localhost", port, keepalive=10)
        self.client.loop_start()
        self.connected.wait(10)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connack = reason
        self.connected.set()

    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def wait_connected(self, timeout: float = 10) -> None:
        """paho reconnects on its own after a dropped handshake: wait until it is back."""
        deadline = time.monotonic() + timeout
        while not self.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)

    def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1, once more if paho was between reconnects (seen on a loaded machine)."""
        for attempt in range(2):
            self.wait_connected()
            try:
                self.client.publish(topic, payload, qos=1).wait_for_publish(10)
                return
            except RuntimeError:
                if attempt:
                    raise

    def close(self) -> None:
        self.client.loop_stop()
        with contextlib.suppress(Exception):
            self.client.disconnect()


@pytest.fixture
def broker(tmp_path: Path, certs: Path) -> Iterator[tuple[int, int, Path]]:
    """A real Mosquitto with mqtt-auth-init's files, hashed as the compose command does."""
    module = load("mqtt_auth_files")
    plain, tls_port = free_port(), free_port()
    files = module.render(
        {**SERVICE_SECRETS, "MQTT_GATEWAYS": GATEWAYS},
        (REPO / "mqtt" / "config" / "mosquitto.conf").read_text(),
        str(tmp_path),
        str(certs / "mosquitto"),
    )
    conf = module.compose_conf(
        (REPO / "mqtt" / "config" / "mosquitto.conf").read_text(),
        str(tmp_path),
        str(certs / "mosquitto"),
        ports=(plain, tls_port),
    )
    assert (
        conf.replace(str(plain), "1883").replace(str(tls_port), "8883") == files["mosquitto.conf"]
    )
    conf = conf.replace("/mosquitto/data/", f"{tmp_path}/") + "user root\n"  # test only
    for name, text in {**files, "mosquitto.conf": conf}.items():
        (tmp_path / name).write_text(text)
    hashed = subprocess.run(["mosquitto_passwd", "-U", str(tmp_path / "passwd")])
    assert hashed.returncode == 0
    assert "test-only-adapter" not in (tmp_path / "passwd").read_text()
    log = (tmp_path / "mosquitto.log").open("w")
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")], stdout=log, stderr=log
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", tls_port), 1):
            break
        time.sleep(0.1)
    yield plain, tls_port, certs / "public" / "ca.pem"
    process.terminate()
    process.wait(10)
    log.close()


@needs_mosquitto
def test_the_rendered_broker_refuses_anonymous_and_keeps_each_gateway_to_its_topics(
    broker: tuple[int, int, Path],
) -> None:
    plain, tls_port, ca = broker
    anonymous = [Client(plain, None, None), Client(tls_port, None, ca)]
    wrong = Client(tls_port, ("gw-a", "wrong"), ca)
    adapter = Client(tls_port, ("ruuvitag-adapter", "test-only-adapter"), ca)
    gateway = Client(tls_port, ("gw-a", "gw-a-test-pw"), ca)
    exporter = Client(plain, ("mosquitto-exporter", "test-only-exporter"), None)
    try:
        assert not any(client.accepted() for client in (*anonymous, wrong))
        assert adapter.accepted() and gateway.accepted() and exporter.accepted()
        for client in (adapter, gateway, exporter):
            client.wait_connected()
        adapter.client.subscribe("ruuvitag/#", qos=1)
        exporter.client.subscribe("$SYS/broker/uptime", qos=0)
        time.sleep(0.5)
        for topic in ("ruuvitag/status/gw-a", "ruuvitag/data"):
            gateway.publish(topic, topic.encode())
        # Another gateway's topic, last: the broker denies it (and may drop the connection, as
        # Mosquitto 2.0.11 does for MQTT 5 clients here), so no acknowledgement is awaited.
        gateway.client.publish("ruuvitag/status/gw-b", b"forged", qos=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (len(adapter.messages) < 2 or not exporter.messages):
            time.sleep(0.1)
        time.sleep(0.5)
        assert sorted(topic for topic, _ in adapter.messages) == [
            "ruuvitag/data",
            "ruuvitag/status/gw-a",
        ]
        assert exporter.messages  # the exporter reads $SYS
    finally:
        for client in (*anonymous, wrong, adapter, gateway, exporter):
            client.close()


# --- kafka-init ---------------------------------------------------------------------------------


def allowed(grants: list[str], principal: str) -> set[tuple[str, str]]:
    """(operation, resource) pairs the ACL commands grant ``principal``."""
    pairs = set()
    for line in grants:
        if f"--allow-principal User:{principal} " not in line + " ":
            continue
        operations = re.findall(r"--operation (\S+)", line)
        resources = re.findall(r"--(topic|group) (\S+)", line)
        if "--cluster" in line:
            resources.append(("cluster", "kafka-cluster"))
        pairs |= {(op, f"{kind}:{name}") for op in operations for kind, name in resources}
    return pairs


def test_kafka_init_creates_a_scram_user_for_each_compose_principal(
    grants: list[str], services: dict[str, Any]
) -> None:
    users = {
        re.search(r"--entity-name (\S+)", line).group(1)  # type: ignore[union-attr]
        for line in grants
        if "--entity-type users" in line
    }
    assert all("SCRAM-SHA-512=[iterations=8192,password=test-" in line for line in grants
               if "--entity-type users" in line)  # fmt: skip
    principals = {
        service["environment"]["KAFKA_SASL_USERNAME"]
        for service in services.values()
        if "KAFKA_SASL_USERNAME" in (service.get("environment") or {})
    }
    assert principals <= users
    assert {"iot-registry", "iot-ui"} <= users


def test_kafka_acls_follow_the_issue(grants: list[str]) -> None:
    readings, dlq, alerts = (
        "topic:iot-sensor-data",
        "topic:iot-sensor-data-dlq",
        ("topic:iot-sensor-alerts"),
    )
    for producer in ("iot-simulator", "iot-adapter"):
        assert {("Write", readings), ("Write", dlq)} <= allowed(grants, producer)
        assert ("Read", readings) not in allowed(grants, producer)
    sink = allowed(grants, "iot-sink")
    assert {("Read", readings), ("Read", "group:iot-timescaledb-sink"), ("Write", dlq)} <= sink
    assert ("Write", readings) not in sink  # the sink cannot produce readings
    alerts_acl = allowed(grants, "iot-alerts")
    assert {("Read", readings), ("Write", alerts), ("Read", "group:iot-data-consumer")} <= (
        alerts_acl
    )
    assert ("Write", readings) not in alerts_acl
    lake = allowed(grants, "iot-lake")
    assert {("Read", readings), ("Read", "group:iot-lake-archiver")} <= lake
    assert not any(op in ("Write", "All") and res == readings for op, res in lake)
    assert ("Create", "cluster:kafka-cluster") in allowed(grants, "iot-admin")
    lag = allowed(grants, "iot-lag-exporter")
    assert {op for op, _ in lag} == {"Describe"}
    ui = allowed(grants, "iot-ui")
    assert not any(op in ("Write", "All", "Alter", "Delete", "Create") for op, _ in ui)


def test_secrets_may_come_from_files_as_on_kubernetes(tmp_path: Path) -> None:
    module = load("mqtt_auth_files")
    (tmp_path / "adapter").write_text("test-only-from-file\n")
    env = module.from_files(
        {"MQTT_ADAPTER_PASSWORD_FILE": str(tmp_path / "adapter"), "MQTT_SIMULATOR_PASSWORD": "x"}
    )
    assert env["MQTT_ADAPTER_PASSWORD"] == "test-only-from-file"
    assert env["MQTT_SIMULATOR_PASSWORD"] == "x"
