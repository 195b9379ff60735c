"""End-to-end helpers for the RuuviTag adapter: unique topics and MQTT prefix, the adapter as a
real process, a paho publisher that counts broker acknowledgements, Kafka readers (Avro through
the registry, raw for dead letters), and a private Mosquitto for restart tests."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from devstack.kafka_auth import ADAPTER
from devstack.mosquitto import MOSQUITTO_CONF, mosquitto_native_conf
from devstack.pipeline import metric_samples
from iot_pipeline.config import Settings
from iot_pipeline.kafka.config import client_config
from iot_pipeline.ruuvi import RuuviReading, encode_hex
from tests.conftest import stack_kafka_login, stack_mqtt_credentials
from tests.e2e.processes import ServiceProcess

REPO = Path(__file__).resolve().parents[3]
VECTORS = REPO / "tests" / "vectors"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class AdapterEnv:
    """Names unique to one test: Kafka topics, MQTT prefix, client id, metrics port."""

    settings: Settings
    topic: str
    dlq_topic: str
    prefix: str
    client_id: str
    metrics_port: int
    mqtt_port: int

    @property
    def data_topic(self) -> str:
        return f"{self.prefix}/ruuvitag/data"

    @property
    def status_prefix(self) -> str:
        return f"{self.prefix}/ruuvitag/status/"

    def gateway_topic(self, gw_mac: str, tag_mac: str) -> str:
        return f"{self.prefix}/ruuvi/{gw_mac}/{tag_mac}"

    def env(self, **overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.settings.kafka_bootstrap_servers,
                "SCHEMA_REGISTRY_URL": self.settings.schema_registry_url,
                "KAFKA_TOPIC_NAME": self.topic,
                "KAFKA_DLQ_TOPIC_NAME": self.dlq_topic,
                "KAFKA_ALERTS_TOPIC_NAME": f"{self.topic}-alerts",
                "MQTT_BROKER_HOST": "127.0.0.1",
                "MQTT_BROKER_PORT": str(self.mqtt_port),
                # Tests use topics of their own: the stack's test identity may read them.
                "MQTT_USERNAME": stack_mqtt_credentials()[0],
                "MQTT_PASSWORD": stack_mqtt_credentials()[1],
                "ADAPTER_MQTT_TOPICS": ",".join(
                    [self.data_topic, f"{self.status_prefix}+", f"{self.prefix}/ruuvi/+/+"]
                ),
                "ADAPTER_STATUS_TOPIC_PREFIX": self.status_prefix,
                "ADAPTER_MQTT_CLIENT_ID": self.client_id,
                "ADAPTER_METRICS_PORT": str(self.metrics_port),
                # Tests count a Format 5 reading's nine measured records; the tests of derived
                # values (test_adapter_formats, the emulator's formats) turn them on.
                "ADAPTER_DERIVED_VALUES": "false",
                "LOG_LEVEL": "INFO",
            }
        )
        env.update(overrides)
        return env


class AdapterProcess(ServiceProcess):
    """run_ruuvitag_adapter.py as a real process, logging to a file."""

    def __init__(self, env: AdapterEnv, log: Path, **overrides: str) -> None:
        self.adapter_env = env
        super().__init__(
            "run_ruuvitag_adapter.py",
            {**env.env(), **stack_kafka_login(ADAPTER), **overrides},
            log,
        )

    def metrics(self) -> dict[str, float]:
        """The adapter's own metrics (name{labels} -> value); {} while not serving."""
        try:
            return metric_samples(self.adapter_env.metrics_port)
        except OSError:
            return {}

    def wait_connected(self, timeout: float = 90) -> None:
        wait_for(
            lambda: self.metrics().get("mqtt_adapter_mqtt_connected") == 1.0,
            timeout,
            "the adapter to connect to MQTT",
            self,
        )
        # The subscription follows the connection immediately; give the SUBACK a moment.
        time.sleep(1.0)

    def alive(self) -> bool:
        return self.proc.poll() is None


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, process: AdapterProcess | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and not process.alive():
            raise AssertionError(
                f"adapter exited while waiting for {what}:\n{process.text()[-3000:]}"
            )
        time.sleep(0.25)
    tail = f"\nadapter log:\n{process.text()[-3000:]}" if process is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{tail}")


class Publisher:
    """A paho QoS 1 publisher that counts what the broker acknowledged (PUBACK)."""

    def __init__(self, port: int, client_id: str | None = None) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"e2e-pub-{uuid.uuid4().hex[:8]}",
        )
        self.client.username_pw_set(*stack_mqtt_credentials())
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self._lock = threading.Lock()
        self.acked: set[int] = set()
        self.sent: dict[int, Any] = {}
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _on_publish(self, _c: Any, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._lock:
            self.acked.add(mid)

    def publish(self, topic: str, payload: bytes | str | dict[str, Any], tag: Any = None) -> int:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        info = self.client.publish(topic, payload, qos=1)
        with self._lock:
            self.sent[info.mid] = tag
        return info.mid

    def wait_all(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.sent.keys() <= self.acked:
                    return
            time.sleep(0.05)
        with self._lock:
            missing = len(self.sent.keys() - self.acked)
        raise AssertionError(f"{missing} publishes not acknowledged by the broker")

    def acked_tags(self) -> list[Any]:
        with self._lock:
            return [tag for mid, tag in self.sent.items() if mid in self.acked]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def read_records(
    settings: Settings,
    topic: str,
    expected: int,
    timeout: float = 120,
    settle: float = 3.0,
    done: Callable[[list[dict[str, Any]]], bool] | None = None,
) -> list[dict[str, Any]]:
    """Every record on ``topic`` (Avro via the registry), reading until ``expected`` arrived (or
    ``done(records)`` holds) and then ``settle`` seconds more to catch any extra one."""
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": settings.schema_registry_url}))
    consumer = Consumer(
        client_config(
            settings,
            {
                "group.id": f"e2e-adapter-reader-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            },
        )
    )
    consumer.subscribe([topic])
    context = SerializationContext(topic, MessageField.VALUE)
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while True:
            now = time.monotonic()
            finished = done(records) if done is not None else len(records) >= expected
            if settle_until is None and finished:
                settle_until = now + settle
            if (settle_until is not None and now >= settle_until) or now >= deadline:
                break
            batch = consumer.consume(1000, 0.5)
            for message in batch:
                if message.error() is None:
                    record = deserializer(message.value(), context)
                    record["_key"] = message.key()
                    records.append(record)
    finally:
        consumer.close()
    return records


def read_dead_letters(
    settings: Settings, topic: str, expected: int, timeout: float = 120, settle: float = 3.0
) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = Consumer(
        client_config(
            settings,
            {
                "group.id": f"e2e-adapter-dlq-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            },
        )
    )
    consumer.subscribe([topic])
    found: list[tuple[bytes, dict[str, bytes]]] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while True:
            now = time.monotonic()
            if settle_until is None and len(found) >= expected:
                settle_until = now + settle
            if (settle_until is not None and now >= settle_until) or now >= deadline:
                break
            for message in consumer.consume(1000, 0.5):
                if message.error() is None:
                    found.append((message.value() or b"", dict(message.headers() or [])))
    finally:
        consumer.close()
    return found


def firmware_message(
    reading: RuuviReading,
    gateway_id: str = "e2e-gw-01",
    rssi: int = -60,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """The JSON the firmware publishes for ``reading`` (shape of esp32_gateway_message.json)."""
    return {
        "gateway_id": gateway_id,
        "gateway_mac": "24:0A:C4:12:34:56",
        "mac": reading.mac,
        "rssi": rssi,
        "timestamp": timestamp or now_iso(),
        "data_format": 5,
        "raw": encode_hex(reading),
        **{k: v for k, v in reading.to_dict().items() if k not in ("mac", "data_format")},
    }


def temperature_only(mac: str, sequence: int, value: float = 21.5) -> dict[str, Any]:
    """A small valid firmware message producing exactly one record (no raw, one sensor)."""
    return {
        "gateway_id": "e2e-gw-burst",
        "mac": mac,
        "temperature": value,
        "measurement_sequence": sequence,
        "timestamp": now_iso(),
    }


class PrivateBroker:
    """A Mosquitto of the test's own, from the project's mosquitto.conf (as devstack adapts it),
    on a free loopback port, with its own persistence directory: it can be restarted without
    touching the shared stack. ``extra_conf`` is appended (options after the listener line apply
    to that listener, e.g. TLS certificates)."""

    def __init__(self, extra_conf: str = "") -> None:
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="e2e-mosquitto-"))
        self.base.chmod(0o755)
        self.data = self.base / "data"
        self.data.mkdir()
        if os.geteuid() == 0:
            with contextlib.suppress(KeyError):
                user = pwd.getpwnam("mosquitto")
                os.chown(self.data, user.pw_uid, user.pw_gid)
        self.conf = self.base / "mosquitto.conf"
        self.conf.write_text(
            mosquitto_native_conf(MOSQUITTO_CONF.read_text(), self.port, self.data) + extra_conf
        )
        self.log = self.base / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                ["/usr/sbin/mosquitto", "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"private mosquitto did not start:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """SIGTERM: Mosquitto saves its persistence database on the way out."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def keys_of(records: Iterable[dict[str, Any]]) -> set[tuple[str, int | None]]:
    return {(r["device_id"], r["measurement_sequence"]) for r in records}
