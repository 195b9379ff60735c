"""The Kubernetes-only configuration, run by the real programs on this machine:
- Prometheus' generated scrape configuration, checked by promtool of the manifests' Prometheus
  release (built with Kubernetes service discovery by install-tools.sh; Debian's has none);
- Mosquitto's authentication: the ACL and password file made by the StatefulSet's own init
  containers from the Secret (per-gateway users, MQTT_GATEWAYS), the generated mosquitto.conf, on
  a real broker (the mosquitto binary `make up` installs) with paho-mqtt clients."""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest

from tests.deploy.apiserver import free_port
from tests.deploy.conftest import ROOT

BASE = ROOT / "deploy/kubernetes/base"


def need(tool: str) -> str:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin")
    if path is None:
        pytest.fail(f"{tool} not found: `make up` installs it (Debian packages)", pytrace=False)
    return path


@pytest.mark.timeout(3600)  # the first run builds promtool (minutes)
def test_promtool_accepts_the_kubernetes_prometheus_config(tool, tmp_path):
    shutil.copy(BASE / "generated/prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copytree(ROOT / "monitoring/prometheus/rules", tmp_path / "rules")
    result = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


GATEWAY_PASSWORDS = {"gw-a": "gw-a-" + uuid.uuid4().hex, "gw-b": "gw-b-" + uuid.uuid4().hex}
PASSWORDS = {
    "MQTT_ADAPTER_PASSWORD": "adapter-" + uuid.uuid4().hex,
    "MQTT_SIMULATOR_PASSWORD": "simulator-" + uuid.uuid4().hex,
    "MQTT_GATEWAYS": ",".join(f"{name}={pw}" for name, pw in GATEWAY_PASSWORDS.items()),
}


def mosquitto_pod(rendered: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return next(
        o["spec"]["template"]["spec"]
        for o in rendered["local"]
        if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "mosquitto"
    )


@pytest.fixture(scope="module")
def broker(rendered, tmp_path_factory) -> Iterator[tuple[int, int]]:
    """The generated configuration on a real broker: (clients' port, pod-local $SYS port)."""
    work = tmp_path_factory.mktemp("mosquitto")
    for name in ("secrets", "auth", "data"):
        (work / name).mkdir()
    for key, value in PASSWORDS.items():
        (work / "secrets" / key).write_text(value)
    inits = {c["name"]: c for c in mosquitto_pod(rendered)["initContainers"]}
    # The first init container: its script (the ConfigMap holds the repository's files) with its
    # own environment, the Secret's values and its volume moved into the work directory.
    first = inits["mqtt-auth"]
    env = {e["name"]: e["value"].replace("/secrets/", f"{work}/secrets/") for e in first["env"]}
    assert {name.removesuffix("_FILE") for name in env if name.endswith("_FILE")} == set(PASSWORDS)
    env.update(MQTT_AUTH_DIR=str(work / "auth"), DEVSTACK_PARENT=str(ROOT))
    script = first["command"][-1].replace("/opt/project/init/", f"{ROOT}/docker/init/")
    subprocess.run(["python3", script], check=True, capture_output=True, timeout=60,
                   env={"PATH": os.environ["PATH"], **env})  # fmt: skip
    second = [arg.replace("/auth/", f"{work}/auth/") for arg in inits["password-file"]["command"]]
    subprocess.run(second, check=True, capture_output=True, timeout=60)
    assert (work / "auth/passwd").stat().st_mode & 0o077 == 0  # owner only
    assert PASSWORDS["MQTT_ADAPTER_PASSWORD"] not in (work / "auth/passwd").read_text()
    clients, local = free_port(), free_port()
    conf = (BASE / "generated/mosquitto.conf").read_text()
    replacements = {
        "listener 1883\n": f"listener {clients} 127.0.0.1\n",
        "listener 1884 127.0.0.1\n": f"listener {local} 127.0.0.1\n",
        "/mosquitto/auth/passwd": str(work / "auth/passwd"),
        "/mosquitto/auth/acl": str(work / "auth/acl"),
        "/mosquitto/data/": f"{work}/data/",
    }
    for old, new in replacements.items():
        assert old in conf, old
        conf = conf.replace(old, new)
    (work / "mosquitto.conf").write_text(conf + "user root\n")
    log = (work / "mosquitto.log").open("wb")
    process = subprocess.Popen([need("mosquitto"), "-c", str(work / "mosquitto.conf")],
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", clients), timeout=1).close()
                socket.create_connection(("127.0.0.1", local), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, (work / "mosquitto.log").read_text()
                assert time.monotonic() < deadline, (work / "mosquitto.log").read_text()
                time.sleep(0.1)
        yield clients, local
    finally:
        process.terminate()
        process.wait(timeout=20)


def connect(port: int, user: str | None = None, password: str | None = None) -> tuple[Any, Any]:
    """A started client and its events: ("connect", failed?) and ("message", (topic, payload))."""
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex,
                         protocol=paho.MQTTv5)  # fmt: skip
    if user:
        client.username_pw_set(user, password)
    client.on_connect = lambda c, u, f, reason, p: events.put(("connect", reason.is_failure))
    client.on_message = lambda c, u, msg: events.put(("message", (msg.topic, msg.payload)))
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client, events


def wait(events: queue.Queue, kind: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event, value = events.get(timeout=0.1)
        except queue.Empty:
            continue
        if event == kind:
            return value
    return None


def connected(port: int, user: str | None = None, password: str | None = None) -> tuple[Any, Any]:
    client, events = connect(port, user, password)
    failed = wait(events, "connect")
    assert failed is False, f"{user or 'anonymous'} could not connect"
    # paho reconnects by itself after a connection dropped during the handshake (seen under
    # load): publish only once the client is connected again.
    deadline = time.monotonic() + 10
    while not client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.05)
    return client, events


def test_clients_without_a_valid_password_are_refused(broker):
    clients, _ = broker
    for user, password in ((None, None), ("gw-a", "wrong"), ("nobody", "x")):
        client, events = connect(clients, user, password)
        try:
            assert wait(events, "connect") is True, f"{user} was let in"
        finally:
            client.loop_stop()
            client.disconnect()


def test_gateway_readings_reach_the_adapter_s_shared_subscription(broker):
    clients, _ = broker
    adapter, adapter_events = connected(
        clients, "ruuvitag-adapter", PASSWORDS["MQTT_ADAPTER_PASSWORD"]
    )
    gateway, _ = connected(clients, "gw-a", GATEWAY_PASSWORDS["gw-a"])
    try:
        adapter.subscribe("$share/iot-adapter/ruuvitag/data", qos=1)
        time.sleep(0.5)
        gateway.publish("ruuvitag/data", b"reading", qos=1).wait_for_publish(5)
        assert wait(adapter_events, "message") == ("ruuvitag/data", b"reading")
        # The ACL: the adapter may not publish (only gateways and the simulator do).
        adapter.publish("ruuvitag/data", b"forged", qos=1)
        assert wait(adapter_events, "message", timeout=2) is None
    finally:
        for client in (adapter, gateway):
            client.loop_stop()
            client.disconnect()


def test_the_exporter_reads_sys_on_the_pod_local_listener_only(broker):
    clients, local = broker
    exporter, events = connected(local)
    gateway, _ = connected(clients, "gw-a", GATEWAY_PASSWORDS["gw-a"])
    try:
        exporter.subscribe("$SYS/broker/uptime")
        topic, _ = wait(events, "message", timeout=15) or (None, None)
        assert topic == "$SYS/broker/uptime"
        exporter.subscribe("ruuvitag/#")  # not readable for anonymous clients
        time.sleep(0.5)
        gateway.publish("ruuvitag/data", b"reading", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            message = wait(events, "message", timeout=0.2)
            assert message is None or message[0].startswith("$SYS/"), message
    finally:
        for client in (exporter, gateway):
            client.loop_stop()
            client.disconnect()


def publish(client: Any, topic: str, payload: bytes) -> None:
    """QoS 1 publish, once more if paho was between reconnects (seen under load)."""
    for attempt in range(2):
        deadline = time.monotonic() + 10
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
            return
        except RuntimeError:
            if attempt:
                raise


def test_a_gateway_publishes_only_its_own_status_topic(broker):
    clients, _ = broker
    adapter, events = connected(clients, "ruuvitag-adapter", PASSWORDS["MQTT_ADAPTER_PASSWORD"])
    gateway, _ = connected(clients, "gw-a", GATEWAY_PASSWORDS["gw-a"])
    try:
        adapter.subscribe("ruuvitag/status/+", qos=1)
        time.sleep(0.5)
        publish(gateway, "ruuvitag/status/gw-a", b"own")
        assert wait(events, "message") == ("ruuvitag/status/gw-a", b"own")
        # Another gateway's topic: denied (Mosquitto may also drop the connection), never seen.
        gateway.publish("ruuvitag/status/gw-b", b"forged", qos=1)
        assert wait(events, "message", timeout=2) is None
    finally:
        for client in (adapter, gateway):
            client.loop_stop()
            client.disconnect()


def test_the_tls_secret_tool_makes_a_keystore_for_every_broker_pod(tmp_path):
    """deploy/kubernetes/tools/make-tls-secret.sh (PRINT_ONLY): compose's cert-init script makes
    the CA and one PEM keystore whose names cover the bootstrap and the advertised pod names."""
    result = subprocess.run(
        ["bash", str(ROOT / "deploy/kubernetes/tools/make-tls-secret.sh"), str(tmp_path), "ns1"],
        env={"PATH": os.environ["PATH"], "PRINT_ONLY": "1"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "create secret generic iot-pipeline-tls" in result.stdout
    keystore = tmp_path / "kafka" / "keystore.pem"
    names = subprocess.run(
        ["openssl", "x509", "-in", str(keystore), "-noout", "-ext", "subjectAltName"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "DNS:*.kafka-headless.ns1.svc.cluster.local" in names
    assert "DNS:kafka-0.kafka-headless" in names and "DNS:kafka-2.kafka-headless" in names
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "public" / "ca.pem"), str(keystore)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
