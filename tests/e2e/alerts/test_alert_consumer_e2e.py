"""The alert consumer as a real process on the real stack (Kafka x3, Schema Registry).

Simulated devices (the simulator's own sensor models and anomaly values) send readings; one
device goes silent and comes back; one stays above its threshold across a kill -9 and restart of
the consumer. The alerts topic must then hold exactly the expected fired/resolved events, none
repeated after the restart, each resolved event carrying its fired event's alert id.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient

from devstack.kafka_auth import ALERTS
from iot_pipeline.alerts.codec import event_from_record
from iot_pipeline.alerts.model import AlertEvent, EventType
from iot_pipeline.config import load_settings
from iot_pipeline.kafka.consumer import FramedAvroDecoder
from iot_pipeline.kafka.producer import AvroProducer
from iot_pipeline.schemas import load_schema
from iot_pipeline.simulator.models import DeviceSpec, initial_state, next_reading
from tests.conftest import stack_kafka_login
from tests.e2e.processes import ServiceProcess

pytestmark = pytest.mark.e2e

SILENCE_S = 3.0
TAG_MAC = "CB:B8:33:4C:88:4F"
TAG_ID = TAG_MAC.lower()
F, R = EventType.FIRED, EventType.RESOLVED


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConsumerProcess(ServiceProcess):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__("run_consumer.py", {**env, **stack_kafka_login(ALERTS)}, log)

    def wait_assigned(self, timeout: float = 60) -> None:
        wait_for(lambda: "assigned [(" in self.text(), timeout, "partition assignment", self)


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, proc: ConsumerProcess | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.proc.poll() is not None:
            raise AssertionError(
                f"consumer exited ({proc.proc.returncode}):\n{proc.text()[-4000:]}"
            )
        time.sleep(0.2)
    tail = "" if proc is None else "\n" + proc.text()[-4000:]
    raise AssertionError(f"timed out waiting for {what}{tail}")


class AlertTopicReader:
    """Everything on the alerts topic, decoded, in arrival order per partition."""

    def __init__(self, registry: SchemaRegistryClient, env: dict[str, str]) -> None:
        topic = env["KAFKA_ALERTS_TOPIC_NAME"]
        self._consumer = Consumer(
            {
                "bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"],
                "group.id": env["TEST_READER_GROUP"],
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                # The alerts topic was created just before: if a broker's metadata does not list
                # it yet, the subscription is looked at again only on the next metadata refresh
                # (5 minutes by default), and every alert in between goes unread.
                "topic.metadata.refresh.interval.ms": 1000,
            }
        )
        self._consumer.subscribe([topic])
        self._decode = FramedAvroDecoder(registry)
        self.events: list[AlertEvent] = []
        self.keys: list[str] = []

    def poll(self, seconds: float = 0.5) -> list[AlertEvent]:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for message in self._consumer.consume(100, timeout=0.2):
                if message.error() is None:
                    self.events.append(event_from_record(self._decode(message)))
                    self.keys.append(message.key().decode())
        return self.events

    def of(self, device: str, rule: str | None = None) -> list[EventType]:
        """Event types of one alert slot, in log order (one key = one partition = ordered)."""
        return [
            e.event_type
            for e in self.events
            if e.device_id == device and (rule is None or e.rule.value == rule)
        ]

    def rules(self, device: str) -> set[str]:
        return {e.rule.value for e in self.events if e.device_id == device}

    def has(self, device: str, rule: str, kind: EventType) -> bool:
        self.poll(0.3)
        return kind in self.of(device, rule)

    def close(self) -> None:
        self._consumer.close()


@dataclass
class Device:
    spec: DeviceSpec
    rng: random.Random
    step: int = 0

    def __post_init__(self) -> None:
        self.state = initial_state(self.spec, self.rng)

    def reading(self, start: datetime, anomaly: bool = False) -> dict[str, Any]:
        now = start + timedelta(seconds=10 * self.step)
        self.step += 1
        return next_reading(self.state, now, self.rng, 1.0 if anomaly else 0.0)


@pytest.fixture
def alert_env(
    kafka_bootstrap_servers, schema_registry_url, kafka_topic_factory, consumer_group_factory
) -> Iterator[dict[str, str]]:
    readings_topic = kafka_topic_factory("e2e-alerts-in")
    alerts_topic = kafka_topic_factory("e2e-alerts-out", config={"cleanup.policy": "compact"})
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
            "SCHEMA_REGISTRY_URL": schema_registry_url,
            "KAFKA_TOPIC_NAME": readings_topic,
            "KAFKA_ALERTS_TOPIC_NAME": alerts_topic,
            "KAFKA_CONSUMER_GROUP_ID": consumer_group_factory("e2e-alerts"),
            "TEST_READER_GROUP": consumer_group_factory("e2e-alerts-reader"),
            "ALERTS_METRICS_PORT": str(free_port()),
            "ALERTS_SILENCE_TIMEOUT": str(SILENCE_S),
            "ALERTS_TICK_INTERVAL": "0.25",
            "ALERTS_SESSION_TIMEOUT": "6",  # a killed instance's partitions move on sooner
            "ALERTS_ZSCORE_THRESHOLD": "6",
            "ALERTS_ZSCORE_CLEAR": "3",
            "ALERTS_LOST_PACKETS_WINDOW": "20",
            # The simulator's random walk moves pressure ~30 Pa a step: at 10-s steps that is a
            # storm-grade trend. Rate of change is covered by the unit tests; here it is off.
            "ALERTS_RULE_OVERRIDES": json.dumps(
                {k: {"max_rate_per_hour": None} for k in ("temperature", "humidity", "pressure")}
            ),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
        }
    )
    yield env


def scrape(port: str) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def metric(port: str, name: str, labels: str) -> float:
    for line in scrape(port).splitlines():
        if line.startswith(f"{name}{{") and all(part in line for part in labels.split(",")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{labels}}} not exposed")


def clients(env: dict[str, str]) -> tuple[SchemaRegistryClient, AvroProducer]:
    """A registry client and a readings producer for the test's stack and topic."""
    settings = load_settings(
        kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
        schema_registry_url=env["SCHEMA_REGISTRY_URL"],
    )
    registry = SchemaRegistryClient({"url": settings.schema_registry_url})
    producer = AvroProducer.create(
        settings,
        registry,
        load_schema("iot_sensor_reading.avsc"),
        env["KAFKA_TOPIC_NAME"],
        client_id="alerts-e2e",
    )
    return registry, producer


class Fleet:
    """The scenario's devices and the producer they report through."""

    def __init__(self, producer: AvroProducer, start: datetime, rng: random.Random) -> None:
        self.producer, self.start, self.rng = producer, start, rng
        self.temp, self.hum, self.pres = (
            self.device("temp", "temperature"),
            self.device("hum", "humidity"),
            self.device("pres", "pressure"),
        )
        self.quiet = self.device("quiet", "temperature")  # goes silent, comes back
        self.hot = self.device("hot", "temperature")  # stays above 50 °C across the restart
        # A RuuviTag's temperature sensor whose measurement sequence wraps (65534 -> 0) and skips
        # every other packet for a while (readings 20-29): 6 lossy steps of 20 exceed a 0.2 loss
        # rate.
        self.tag = Device(
            DeviceSpec(f"{TAG_MAC.lower()}_temperature", "temperature", 10.0),
            random.Random(rng.random()),
        )
        self.tag_seq = 65520
        self.alive = [self.temp, self.hum, self.pres, self.hot, self.tag]

    def device(self, name: str, kind: str) -> Device:
        return Device(DeviceSpec(f"e2e-{name}", kind, 10.0), random.Random(self.rng.random()))

    def send(
        self, dev: Device, anomaly: bool = False, value: float | None = None
    ) -> dict[str, Any]:
        step = dev.step
        record = dev.reading(self.start, anomaly)
        if value is not None:
            record["value"] = value
        if dev is self.tag:
            record["device_type"] = "temperature_sensor"
            record["tag_mac"] = TAG_MAC
            record["measurement_sequence"] = self.tag_seq
            self.tag_seq = (self.tag_seq + (2 if 20 <= step < 30 else 1)) % 65535
        self.producer.produce(record["device_id"], record)
        return record

    def beat(self, rounds: int, pause: float, hot_value: float = 60.0) -> None:
        """Every live device reports ``rounds`` times, ``pause`` seconds apart."""
        for _ in range(rounds):
            for d in self.alive:
                self.send(d, value=hot_value + d.step % 5 * 0.1 if d is self.hot else None)
            assert self.producer.flush(30) == 0
            time.sleep(pause)

    def anomalies_and_junk(self, topic: str) -> dict[str, float]:
        """40 readings each; the simulator's anomaly at reading 30 of three devices, and one
        message that is not a reading at all (it must not stop anything)."""
        anomalies = {}
        for i in range(40):
            for d in [self.temp, self.hum, self.pres, self.quiet, self.tag]:
                anomaly = i == 30 and d in (self.temp, self.hum, self.pres)
                record = self.send(d, anomaly=anomaly)
                if anomaly:
                    anomalies[record["device_id"]] = record["value"]
            self.send(self.hot, value=60.0 + i % 5 * 0.1)
            if i == 20:
                self.producer.produce_raw(topic, b"e2e-temp", b"not avro")
        assert self.producer.flush(30) == 0
        return anomalies


def test_anomalies_silence_and_restart_give_exactly_the_expected_alerts(alert_env, tmp_path):
    registry, producer = clients(alert_env)
    fleet = Fleet(producer, datetime.now(UTC) - timedelta(hours=2), random.Random(20261123))
    reader = AlertTopicReader(registry, alert_env)
    first = ConsumerProcess(alert_env, tmp_path / "consumer-1.log")
    processes = [first]
    try:
        first.wait_assigned()
        # Phase 1: anomalies. Phase 2: everyone but "quiet" keeps reporting for well over the
        # silence timeout.
        anomalies = fleet.anomalies_and_junk(alert_env["KAFKA_TOPIC_NAME"])
        fleet.beat(rounds=int(3 * SILENCE_S / 0.5), pause=0.5)
        wait_for(lambda: reader.has("e2e-quiet", "silence", F), 30, "the silence alert", first)
        # 20 clean packets after the lossy ones bring the rate to 2/22 <= 0.1: clear-after 3
        wait_for(lambda: reader.has(TAG_ID, "lost_packets", R), 30, "lost packets resolved", first)
        assert reader.of("e2e-hot") == [F]
        port = alert_env["ALERTS_METRICS_PORT"]
        assert metric(port, "iot_alerts_open", 'rule="silence",severity="critical"') == 1
        assert metric(port, "iot_alerts_processing_errors_total", 'reason="deserialization"') == 1
        first.kill()

        # Phase 3: restarted consumer. "hot" stays hot, "quiet" stays silent: no repeats.
        second = ConsumerProcess(alert_env, tmp_path / "consumer-2.log")
        processes.append(second)
        # The killed member holds its partitions until its session times out.
        second.wait_assigned(timeout=60)
        fleet.beat(rounds=int(2 * SILENCE_S / 0.5), pause=0.5)
        reader.poll(1.0)
        assert (reader.of("e2e-quiet"), reader.of("e2e-hot")) == ([F], [F])  # no repeats
        assert metric(port, "iot_alerts_open", 'rule="threshold_high",severity="critical"') >= 1
        # Phase 4: "quiet" returns, "hot" cools down (three readings: clear-after 3).
        fleet.send(fleet.quiet)
        fleet.beat(rounds=3, pause=0.3, hot_value=20.0)
        # Phase 5: all stop; each device's silence must fire once.
        wait_for(
            lambda: sum(1 for e in reader.poll(0.5) if e.rule.value == "silence") >= 8,
            30,
            "every device's silence alert",
            second,
        )
        time.sleep(SILENCE_S)  # anything extra would show up now
        reader.poll(1.0)
        assert second.stop() == 0
    finally:
        reader.close()
        for proc in processes:
            if proc.proc.poll() is None:
                proc.kill()

    assert_each_device_alerted_as_expected(reader, anomalies)
    assert_alerts_schema_registered(registry, alert_env)
    assert_lifecycle_pairs_and_keys(reader)
    assert_logged_once_per_event(reader, tmp_path)


def assert_each_device_alerted_as_expected(
    reader: AlertTopicReader, anomalies: dict[str, float]
) -> None:
    side = {
        "e2e-temp": "threshold_high" if anomalies["e2e-temp"] > 50 else "threshold_low",
        "e2e-hum": "threshold_low",
        "e2e-pres": "threshold_high" if anomalies["e2e-pres"] > 108_500 else "threshold_low",
    }
    for dev, rule in side.items():
        assert reader.rules(dev) == {rule, "statistical", "silence"}, dev
        assert reader.of(dev, rule) == [F, R], dev
        assert reader.of(dev, "statistical") == [F, R], dev
        assert reader.of(dev, "silence") == [F], dev
    assert reader.rules("e2e-hot") == {"threshold_high", "silence"}
    assert reader.of("e2e-hot", "threshold_high") == [F, R]
    assert reader.of("e2e-hot", "silence") == [F]
    assert reader.of(TAG_ID) == [F, R]  # lost_packets is judged per tag (its MAC)
    assert reader.rules(TAG_ID) == {"lost_packets"}
    assert reader.of(f"{TAG_ID}_temperature") == [F]  # silence at the end
    assert reader.rules("e2e-quiet") == {"silence"}
    assert reader.of("e2e-quiet") == [F, R, F]
    quiet_back = [e for e in reader.events if e.device_id == "e2e-quiet" and e.event_type is R]
    assert quiet_back[0].value is None  # ended by its reading, not by a later timer tick
    anomaly_events = [
        e for e in reader.events if e.rule.value.startswith("threshold") and e.event_type is F
    ]
    assert {e.device_id: e.value for e in anomaly_events if e.device_id != "e2e-hot"} == {
        "e2e-temp": anomalies["e2e-temp"],
        "e2e-hum": anomalies["e2e-hum"],
        "e2e-pres": anomalies["e2e-pres"],
    }


def assert_alerts_schema_registered(registry: SchemaRegistryClient, env: dict[str, str]) -> None:
    """The events are typed by their own schema in the registry, under the alerts topic's
    subject."""
    subject = f"{env['KAFKA_ALERTS_TOPIC_NAME']}-value"
    registered = registry.get_latest_version(subject).schema.schema_str
    assert json.loads(registered)["name"] == "AlertEvent"
    assert registry.get_compatibility(subject) == "BACKWARD"


def assert_lifecycle_pairs_and_keys(reader: AlertTopicReader) -> None:
    """Every resolved event closes the fired one (same id, same first seen), and the alerts
    topic is keyed <device>|<rule>."""
    opened: dict[tuple[str, str], AlertEvent] = {}
    for event, key in zip(reader.events, reader.keys, strict=True):
        assert key == f"{event.device_id}|{event.rule.value}"
        slot = (event.device_id, event.rule.value)
        if event.event_type is F:
            assert slot not in opened
            opened[slot] = event
        else:
            fired = opened.pop(slot)
            assert (event.alert_id, event.first_seen_ms) == (fired.alert_id, fired.first_seen_ms)


def assert_logged_once_per_event(reader: AlertTopicReader, logs: Path) -> None:
    """One structured log line per delivered alert, across both runs."""
    logged = [
        json.loads(line)["record"]["extra"]["alert"]
        for proc_log in ("consumer-1.log", "consumer-2.log")
        for line in (logs / proc_log).read_text().splitlines()
        if line.startswith("{") and '"alert": {' in line
    ]
    assert sorted(a["alert_id"] + a["event_type"] for a in logged) == sorted(
        e.alert_id + e.event_type.value for e in reader.events
    )


def test_rebalance_between_two_instances_repeats_no_open_alert(alert_env, tmp_path):
    """Partitions move to a second instance and back: open alerts follow through the log."""
    registry, producer = clients(alert_env)
    start = datetime.now(UTC) - timedelta(hours=1)
    devices = [f"e2e-hot-{i:02d}" for i in range(12)]  # spread over the 6 partitions
    step = 0

    def beat(rounds: int, value: float) -> None:
        nonlocal step
        for _ in range(rounds):
            for device_id in devices:
                record = {
                    "device_id": device_id,
                    "device_type": "temperature",
                    "timestamp": start + timedelta(seconds=10 * step),
                    "value": value + step % 5 * 0.1,
                    "unit": "°C",
                }
                producer.produce(device_id, record)
            step += 1
            assert producer.flush(30) == 0
            time.sleep(0.3)

    env = {**alert_env, "ALERTS_SILENCE_TIMEOUT": "600"}
    reader = AlertTopicReader(registry, alert_env)
    first = ConsumerProcess(env, tmp_path / "a.log")
    second = None
    try:
        first.wait_assigned()
        beat(3, 60.0)
        wait_for(lambda: len(reader.poll(0.3)) >= len(devices), 30, "12 fired events", first)
        # A second instance joins: cooperative rebalance hands it about half the partitions.
        port_b = str(free_port())
        second = ConsumerProcess({**env, "ALERTS_METRICS_PORT": port_b}, tmp_path / "b.log")
        second.wait_assigned()
        beat(6, 61.0)
        wait_for(lambda: "iot_alerts_consumer_lag{" in scrape(port_b), 15, "lag metric", second)
        # The first leaves cleanly: the second owns everything and still repeats nothing.
        assert first.stop() == 0
        wait_for(lambda: second.text().count("assigned [(") >= 2, 60, "reassignment", second)
        beat(4, 62.0)
        reader.poll(1.0)
        assert [(e.device_id, e.event_type) for e in reader.events] == [
            (d, F) for d in sorted(devices, key=[e.device_id for e in reader.events].index)
        ]
        assert len(reader.events) == len(devices)
        beat(3, 20.0)  # clear-after 3
        wait_for(lambda: len(reader.poll(0.3)) >= 2 * len(devices), 30, "12 resolved", second)
        reader.poll(1.0)
        assert second.stop() == 0
    finally:
        reader.close()
        for proc in (first, second):
            if proc is not None and proc.proc.poll() is None:
                proc.kill()
    for device_id in devices:
        assert reader.of(device_id, "threshold_high") == [F, R], device_id
    assert {e.rule.value for e in reader.events} == {"threshold_high"}
