"""The stack's broker refuses what the security design says it refuses, on the real Mosquitto:
anonymous clients on both listeners; a gateway publishing to another gateway's topic or reading
anything; a forged message from an unauthenticated client never reaches Kafka. And the secured
path works: the adapter with its own identity and the firmware's emulator with a gateway's own
credentials, both over TLS, carry readings into Kafka."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from devstack.config import StackConfig
from devstack.tls import tls_dir
from tests.conftest import stack_mqtt_credentials
from tests.e2e.adapter.harness import Publisher, keys_of, read_records, temperature_only

pytestmark = pytest.mark.e2e

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "ruuvi_format5.json"


class Client:
    """A paho MQTT 5 client that records the CONNACK, SUBACK and messages it gets."""

    def __init__(self, port: int, login: tuple[str, str] | None, ca: Path | None = None) -> None:
        self.connack: Any = None
        self.suback: list[Any] = []
        self.messages: list[mqtt.MQTTMessage] = []
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"e2e-sec-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        if login:
            self.client.username_pw_set(*login)
        if ca:
            self.client.tls_set(ca_certs=str(ca))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda _c, _u, msg: self.messages.append(msg)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        self.connected.wait(10)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connack = reason
        self.connected.set()

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        self.suback = reasons
        self.subscribed.set()

    def accepted(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def subscribe(self, topic: str) -> list[Any]:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(10), f"no SUBACK for {topic}"
        return self.suback

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_anonymous_clients_are_refused_on_both_listeners(stack: StackConfig) -> None:
    ca = tls_dir(stack.state_dir) / "ca.pem"
    for port, tls in ((stack.mqtt_port, None), (stack.mqtt_tls_port, ca)):
        client = Client(port, None, tls)
        try:
            assert client.connack is not None, f"no CONNACK on {port}"
            assert client.connack.is_failure, f"anonymous client accepted on {port}"
        finally:
            client.close()
    wrong = Client(stack.mqtt_tls_port, ("ruuvitag-adapter", "not-the-password"), ca)
    assert wrong.connack is not None and wrong.connack.is_failure
    wrong.close()


def test_a_gateway_cannot_publish_as_another_nor_subscribe_to_anything(
    stack: StackConfig, make_gateway: Any
) -> None:
    ca = tls_dir(stack.state_dir) / "ca.pem"
    mine, other = make_gateway(), make_gateway()
    watcher = Client(stack.mqtt_port, stack_mqtt_credentials())
    gateway = Client(stack.mqtt_tls_port, (mine.name, mine.password), ca)
    try:
        assert watcher.accepted() and gateway.accepted()
        watcher.subscribe(f"ruuvitag/status/{other.name}")
        watcher.subscribe(f"ruuvitag/status/{mine.name}")
        watcher.subscribe(f"ruuvi/{mine.name}/#")
        # Mosquitto 2.0 grants the SUBACK of a wildcard filter and checks read access for each
        # message it would deliver: the ACL gives gateways no read access, so nothing arrives.
        for topic in ("#", "ruuvitag/data", f"ruuvitag/status/{mine.name}"):
            gateway.subscribe(topic)
        watcher.publish(f"e2e-sec/{uuid.uuid4().hex}", b"not for gateways")
        watcher.publish("ruuvitag/data", b"not for gateways either")
        for forged in (f"ruuvitag/status/{other.name}", f"ruuvi/{mine.name}/AA:BB:CC:DD:EE:FF"):
            # A fresh connection each: the broker may drop a client that publishes where it
            # may not (Mosquitto does for some protocol versions), which is fine too.
            attempt = Client(stack.mqtt_tls_port, (mine.name, mine.password), ca)
            with contextlib.suppress(RuntimeError):
                attempt.publish(forged, b'{"forged": true}')
            attempt.close()
        honest = Client(stack.mqtt_tls_port, (mine.name, mine.password), ca)
        honest.publish(f"ruuvitag/status/{mine.name}", b'{"state": "online"}')
        honest.close()
        deadline = time.monotonic() + 10
        while not watcher.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # anything else the broker would deliver arrives by now
        assert [m.topic for m in watcher.messages] == [f"ruuvitag/status/{mine.name}"]
        assert gateway.messages == []
    finally:
        watcher.close()
        gateway.close()


def test_a_forged_message_from_an_unauthenticated_client_never_reaches_kafka(
    stack: StackConfig, adapter_env: Any, start_adapter: Any
) -> None:
    adapter = start_adapter(adapter_env)
    adapter.wait_connected()
    forger = Client(stack.mqtt_port, None)
    forged = temperature_only("C0:FF:EE:00:66:01", 1, value=99.0)
    if forger.accepted():  # it is not: the assertion below says so
        forger.publish(adapter_env.data_topic, json.dumps(forged).encode())
    forger.close()
    assert not forger.accepted(), "an anonymous client was accepted"
    publisher = Publisher(stack.mqtt_port)
    genuine = temperature_only("C0:FF:EE:00:66:02", 1)
    publisher.publish(adapter_env.data_topic, genuine)
    publisher.wait_all(30)
    publisher.close()
    records = read_records(adapter_env.settings, adapter_env.topic, expected=1, settle=5.0)
    keys = {key for key, _ in keys_of(records)}
    assert keys and all(key.startswith("c0:ff:ee:00:66:02") for key in keys), keys


def test_adapter_and_emulator_carry_readings_over_tls_with_their_own_passwords(
    stack: StackConfig, adapter_env: Any, start_adapter: Any, make_gateway: Any, firmware_tools: Any
) -> None:
    ca = tls_dir(stack.state_dir) / "ca.pem"
    gateway = make_gateway()
    assert "mqtts://" in gateway.output and gateway.password in gateway.output
    group = f"e2e-sec-{uuid.uuid4().hex[:8]}"
    adapter = start_adapter(
        adapter_env,
        MQTT_USERNAME="ruuvitag-adapter",
        MQTT_PASSWORD=stack.mqtt_password("ruuvitag-adapter"),
        MQTT_TLS_ENABLED="true",
        MQTT_CA_FILE=str(ca),
        MQTT_BROKER_PORT=str(stack.mqtt_tls_port),
        # A group of its own: another adapter on ruuvitag/data (make run) keeps its share.
        ADAPTER_MQTT_TOPICS=f"$share/{group}/ruuvitag/data",
    )
    adapter.wait_connected()
    emulator = subprocess.run(
        [
            str(firmware_tools.emulator),
            "--vectors",
            str(VECTORS),
            "--host",
            "127.0.0.1",
            "--port",
            str(stack.mqtt_tls_port),
            "--cafile",
            str(ca),
            "--username",
            gateway.name,
            "--gateway-id",
            gateway.name,
            "--count",
            "5",
        ],
        env={"MQTT_PASSWORD": gateway.password},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert emulator.returncode == 0, emulator.stderr
    summary = json.loads(emulator.stderr.strip().splitlines()[-1])
    published = summary["published"]
    # The broker acknowledged every reading (and the retained status): none was refused.
    assert published > 0 and summary["acked"] >= published, summary

    def messages(records: list[dict[str, Any]]) -> set[tuple[str, int | None]]:
        """(tag, measurement sequence) of this gateway's records: one per MQTT message."""
        mine = [r for r in records if r.get("gateway_id") == gateway.name]
        return {(key.split("_")[0], seq) for key, seq in keys_of(mine)}

    records = read_records(
        adapter_env.settings,
        adapter_env.topic,
        expected=published,
        done=lambda rs: len(messages(rs)) >= published - 1,
    )
    # One of the first vectors carries no valid measurement (the adapter stores nothing for
    # it); every other message arrives through the TLS listener and the adapter's own login.
    assert len(messages(records)) >= published - 1 >= 1
