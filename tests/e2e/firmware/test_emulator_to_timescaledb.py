"""Issue 7, end to end: the firmware's own code publishes the official Format 5 vectors and
TimescaleDB stores exactly the vectors' expected values.

The host gateway emulator (built from the firmware's portable core) publishes, as the firmware
would, one message per vector of tests/vectors/ruuvi_format5.json (valid, maximum, minimum,
invalid, then the Ruuvi Gateway advertisement) to the stack's Mosquitto, with its retained
online/offline status around them. The RuuviTag adapter (a real process) turns them into Avro
records on a Kafka topic of this test's own; the sink (a real process) stores them in a
PostgreSQL schema of this test's own.

What the adapter does with each vector (src/iot_pipeline/adapter/validation.py, transform.py):
- valid, maximum, minimum, the advertisement: every value is inside the Format 5 ranges the adapter
  validates against (the maximum's 163.835 % humidity too: those are the codec's ranges, not
  physical ones), so each becomes 9 per-sensor records; values outside the anomaly thresholds
  are stored with is_anomaly set, nothing is dead-lettered.
- invalid: every field is "not available", the MAC too, so the firmware publishes it under its
  default tag MAC with all values null; the adapter accepts the reading (it counts it) and, with
  no available value, produces no record and no dead letter.

The emulator paces its messages (--rate) so that each has its own millisecond timestamp: the
valid, maximum and minimum vectors share a tag MAC, and (device_id, timestamp) is the table's
idempotency key.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import text

from iot_pipeline.config import Settings, load_settings
from iot_pipeline.kafka.config import client_config
from iot_pipeline.storage.engine import create_db_engine
from tests.conftest import stack_mqtt_credentials, stack_postgres_password
from tests.e2e.adapter.harness import (
    VECTORS,
    AdapterEnv,
    AdapterProcess,
    Publisher,
    free_port,
    wait_for,
)
from tests.e2e.adapter.test_adapter_vectors import UNITS
from tests.e2e.sink.harness import SinkEnv

pytestmark = pytest.mark.e2e

VECTOR_FILE = VECTORS / "ruuvi_format5.json"
RUUVI = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
PAYLOADS = {v["name"]: v for v in RUUVI["format5_payloads"]}
ADVERTISEMENT = RUUVI["ruuvi_gateway_advertisement"]
ADVERTISEMENT_HEADER = "0201061BFF9904"  # flags, then manufacturer data of Ruuvi (0x0499)

GATEWAY_MAC = "24:0A:C4:E2:E0:07"
DEFAULT_MAC = "C0:FF:EE:00:00:01"  # the emulator's tag MAC for a payload whose MAC is unavailable
RSSI = -71

# Every vector as the emulator's --vectors mode sends it, in order: (name, expected, raw payload).
SENT: list[tuple[str, dict[str, Any], str]] = [
    *((v["name"], v["expected"], v["hex"]) for v in RUUVI["format5_payloads"]),
    (
        "advertisement",
        ADVERTISEMENT["expected"],
        ADVERTISEMENT["data"].removeprefix(ADVERTISEMENT_HEADER),
    ),
]
STORED = [name for name, _, _ in SENT if name != "invalid"]

# What the adapter derives (docs/configuration.md defaults), written out per vector: battery
# percent (linear 2.0 V -> 0 %, 3.0 V -> 100 %, 0.1 % steps) and the sensors outside the anomaly
# thresholds (temperature -50..50 °C, humidity 15..100 %, pressure 87000..108500 Pa,
# battery >= 2 V).
BATTERY_PERCENT = {"valid": 97.7, "maximum": 100.0, "minimum": 0.0, "advertisement": 78.4}
ANOMALOUS = {
    "valid": set(),
    "maximum": {"temperature", "humidity", "pressure"},
    "minimum": {"temperature", "humidity", "pressure", "battery"},
    "advertisement": set(),
}

COLUMNS = (
    'device_id, device_type, "timestamp", value, unit, latitude, longitude, location_building, '
    "location_floor, location_zone, battery_level, signal_strength, firmware_version, is_anomaly, "
    "device_metadata, tags, tag_mac, gateway_id, rssi, measurement_sequence"
)


@dataclass
class Pipeline:
    """Everything unique to one run: MQTT topics, gateway id, Kafka topics, group, schema."""

    adapter: AdapterEnv
    sink: SinkEnv
    gateway_id: str
    alerts_topic: str

    @property
    def status_topic(self) -> str:
        return f"ruuvitag/status/{self.gateway_id}"  # fixed by the firmware: ruuvitag/status/<id>

    def adapter_overrides(self) -> dict[str, str]:
        return {
            "KAFKA_ALERTS_TOPIC_NAME": self.alerts_topic,
            "ADAPTER_MQTT_TOPICS": f"{self.adapter.data_topic},{self.status_topic}",
            "ADAPTER_STATUS_TOPIC_PREFIX": "ruuvitag/status/",
        }


@pytest.fixture
def pipeline(
    stack,
    mqtt_port: int,
    kafka_topic_factory: Callable[..., str],
    consumer_group_factory: Callable[[str], str],
    pg_schema_factory: Callable[[str], str],
    unique_name: Callable[[str], str],
    schema_registry_client,
) -> Iterator[Pipeline]:
    readings = kafka_topic_factory("e2e-fw-readings")
    adapter_dlq = kafka_topic_factory("e2e-fw-adapter-dlq")
    sink_dlq = kafka_topic_factory("e2e-fw-sink-dlq")
    # The adapter's start-up admin step creates its alerts topic: make it here, so it is deleted.
    alerts = kafka_topic_factory("e2e-fw-alerts", config={"cleanup.policy": "compact"})
    prefix = unique_name("e2e-fw")
    settings = load_settings(postgres_password=stack_postgres_password())
    engine = create_db_engine(settings)
    run = Pipeline(
        adapter=AdapterEnv(
            settings=settings,
            topic=readings,
            dlq_topic=adapter_dlq,
            prefix=prefix,
            client_id=f"{prefix}-adapter",
            metrics_port=free_port(),
            mqtt_port=mqtt_port,
        ),
        sink=SinkEnv(
            schema=pg_schema_factory("e2e_fw"),
            topic=readings,
            dlq_topic=sink_dlq,
            group=consumer_group_factory("e2e-fw-sink"),
            settings=settings,
            engine=engine,
        ),
        gateway_id=unique_name("e2e-fw-gw"),
        alerts_topic=alerts,
    )
    yield run
    engine.dispose()
    # The emulator leaves its retained "offline" status: clear it for this throwaway gateway.
    cleaner = Publisher(mqtt_port)
    try:
        cleaner.client.publish(run.status_topic, b"", qos=1, retain=True).wait_for_publish(10)
    finally:
        cleaner.close()
    for permanent in (False, True):
        with contextlib.suppress(Exception):
            schema_registry_client.delete_subject(f"{readings}-value", permanent=permanent)


class Recorder:
    """Records what arrives on one MQTT topic (to learn the emulator's exact messages)."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.username_pw_set(*stack_mqtt_credentials())
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = lambda _c, _u, msg: self.messages.append(json.loads(msg.payload))
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(15):
            self.close()
            raise AssertionError(f"could not subscribe to {topic}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def offsets(settings: Settings, topic: str, group: str) -> tuple[int, int]:
    """(records in ``topic``, of them committed by ``group``), over all its partitions."""
    consumer = Consumer(
        client_config(
            settings,
            {
                "group.id": group,
                "enable.auto.commit": False,
            },
        )
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        partitions = [TopicPartition(topic, p) for p in metadata.partitions]
        total = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions)
        committed = sum(max(tp.offset, 0) for tp in consumer.committed(partitions, timeout=10))
        return total, committed
    finally:
        consumer.close()


def stored_rows(sink: SinkEnv) -> list[dict[str, Any]]:
    """Every row of the schema's sensor_readings ([] until the sink has created the table)."""
    table = f'"{sink.schema}".sensor_readings'
    with sink.engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
            return []
        result = conn.execute(text(f"SELECT {COLUMNS} FROM {table}"))
        return [dict(row) for row in result.mappings()]


def expected_rows(
    name: str, values: dict[str, Any], raw: str, timestamp: datetime, gateway_id: str
) -> dict[tuple[str, int], dict[str, Any]]:
    """The 9 rows (one per sensor) a vector must become, keyed by (device_id, sequence)."""
    tag_mac = values["mac"]
    rows = {}
    for sensor, unit in UNITS.items():
        device_id = f"{tag_mac.lower()}_{sensor}"
        rows[(device_id, values["measurement_sequence"])] = {
            "device_id": device_id,
            "device_type": f"{sensor}_sensor",
            "timestamp": timestamp,
            "value": float(values[sensor]),
            "unit": unit,
            "latitude": None,
            "longitude": None,
            "location_building": None,
            "location_floor": None,
            "location_zone": None,
            "battery_level": BATTERY_PERCENT[name],
            "signal_strength": float(RSSI),
            "firmware_version": None,
            "is_anomaly": sensor in ANOMALOUS[name],
            "device_metadata": {
                "source": "esp32_firmware",
                "timestamp_source": "payload",
                "data_format": "5",
                "gateway_mac": GATEWAY_MAC,
                "raw": raw,
            },
            "tags": None,
            "tag_mac": tag_mac,
            "gateway_id": gateway_id,
            "rssi": RSSI,
            "measurement_sequence": values["measurement_sequence"],
        }
    return rows


def test_emulator_vectors_are_stored_with_their_expected_values(
    pipeline: Pipeline, firmware_tools, start_adapter, start_sink
) -> None:
    run = pipeline
    sink = start_sink(run.sink.env())
    adapter: AdapterProcess = start_adapter(run.adapter, **run.adapter_overrides())
    adapter.wait_connected()
    recorder = Recorder(run.adapter.mqtt_port, run.adapter.data_topic)
    try:
        emulator = subprocess.run(
            [
                str(firmware_tools.emulator),
                "--vectors",
                str(VECTOR_FILE),
                "--host",
                "127.0.0.1",
                "--port",
                str(run.adapter.mqtt_port),
                "--topic",
                run.adapter.data_topic,
                "--username",
                stack_mqtt_credentials()[0],
                "--password",
                stack_mqtt_credentials()[1],
                "--gateway-id",
                run.gateway_id,
                "--gateway-mac",
                GATEWAY_MAC,
                "--default-mac",
                DEFAULT_MAC,
                "--rssi",
                str(RSSI),
                "--rate",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert emulator.returncode == 0, emulator.stderr
        summary = json.loads(emulator.stderr.strip().splitlines()[-1])
        # Acknowledged by the broker (QoS 1): the 5 readings and the online/offline status.
        assert (summary["published"], summary["acked"]) == (len(SENT), len(SENT) + 2), summary
        wait_for(lambda: len(recorder.messages) == len(SENT), 15, "the emulator's messages")
    finally:
        recorder.close()

    # What the firmware published: one message per vector, in the vector file's order.
    published = recorder.messages
    assert [m["raw"] for m in published] == [raw for _, _, raw in SENT]
    assert [m["mac"] for m in published] == [v["mac"] or DEFAULT_MAC for _, v, _ in SENT]
    invalid = published[[name for name, _, _ in SENT].index("invalid")]
    assert all(
        invalid[field] is None for field in PAYLOADS["invalid"]["expected"] if field != "mac"
    )
    stamps = {
        name: datetime.fromisoformat(m["timestamp"])
        for (name, _, _), m in zip(SENT, published, strict=True)
    }
    assert len(set(stamps.values())) == len(SENT)  # one timestamp each (see the module docstring)

    expected: dict[tuple[str, int], dict[str, Any]] = {}
    for name, values, raw in SENT:
        if name in STORED:
            expected |= expected_rows(name, values, raw, stamps[name], run.gateway_id)
    assert len(expected) == 4 * 9

    # The adapter handled all 7 MQTT messages (online, 5 vectors, offline) and Kafka confirmed
    # 36 records; the invalid vector counted as a reading without records; no dead letter.
    wait_for(
        lambda: (
            adapter.metrics().get("mqtt_adapter_messages_received_total") == 7
            and adapter.metrics().get("mqtt_adapter_records_published_total") == 36
        ),
        30,
        "the adapter to publish the vectors' records",
        adapter,
    )
    metrics = adapter.metrics()
    assert metrics['mqtt_adapter_readings_total{source="esp32_firmware"}'] == len(SENT)
    assert metrics["mqtt_adapter_duplicates_total"] == 0
    assert metrics["mqtt_adapter_ruuvitag_devices_seen"] == 3  # CB:B8.., C0:FF:EE.., E3:75..
    assert metrics['mqtt_adapter_gateway_status_messages_total{state="online"}'] == 1
    assert metrics['mqtt_adapter_gateway_status_messages_total{state="offline"}'] == 1
    assert metrics["mqtt_adapter_gateways_online"] == 0
    assert not any(k.startswith("mqtt_adapter_dead_letters_total") for k in metrics)

    settings = run.sink.settings

    def sink_committed_all() -> bool:
        assert sink.proc.poll() is None, f"the sink exited:\n{sink.text()[-3000:]}"
        return offsets(settings, run.sink.topic, run.sink.group) == (36, 36)

    # 36 records on the topic (none from the invalid vector), all stored and committed.
    wait_for(sink_committed_all, 45, "the sink to commit all 36 records")
    assert offsets(settings, run.adapter.dlq_topic, run.sink.group)[0] == 0
    assert offsets(settings, run.sink.dlq_topic, run.sink.group)[0] == 0

    rows = stored_rows(run.sink)
    got = {(r["device_id"], r["measurement_sequence"]): r for r in rows}
    assert len(rows) == len(got) == 36
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        assert got[key] == want, key
    assert not [r for r in rows if r["tag_mac"] == DEFAULT_MAC]  # the invalid vector: no row

    assert adapter.stop() == 0
    assert sink.stop() == 0
