"""What both firmware-to-database tests share: one run's private names (MQTT topics, gateway,
Kafka topics, group, schema), the emulator run with the adapter and the sink as real processes
and a recorder of what the emulator published, and the reads of what Kafka and PostgreSQL hold."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import text

from iot_pipeline.config import Settings
from iot_pipeline.kafka.config import client_config
from tests.conftest import stack_mqtt_credentials
from tests.e2e.adapter.harness import AdapterEnv, AdapterProcess, wait_for
from tests.e2e.sink.harness import SinkEnv, SinkProcess

GATEWAY_MAC = "24:0A:C4:E2:E0:07"
RSSI = -71


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


@dataclass
class EmulatorRun:
    """The adapter and sink processes (still running) and the emulator's messages, in order."""

    adapter: AdapterProcess
    sink: SinkProcess
    published: list[dict[str, Any]]


def run_emulator(
    run: Pipeline,
    emulator: Path,
    mode: list[str],
    sent: int,
    start_adapter: Callable[..., AdapterProcess],
    start_sink: Callable[[dict[str, str]], SinkProcess],
) -> EmulatorRun:
    """Starts the sink and the adapter, runs the emulator in ``mode`` (its input and options)
    against the run's MQTT topic and gateway, and checks the broker acknowledged (QoS 1) the
    ``sent`` readings and the online/offline status and that all ``sent`` messages arrived."""
    sink = start_sink(run.sink.env())
    adapter = start_adapter(run.adapter, **run.adapter_overrides())
    adapter.wait_connected()
    username, password = stack_mqtt_credentials()
    recorder = Recorder(run.adapter.mqtt_port, run.adapter.data_topic)
    try:
        result = subprocess.run(
            [
                str(emulator),
                *mode,
                *("--host", "127.0.0.1", "--port", str(run.adapter.mqtt_port)),
                *("--topic", run.adapter.data_topic),
                *("--username", username, "--password", password),
                *("--gateway-id", run.gateway_id, "--gateway-mac", GATEWAY_MAC),
                *("--rate", "20"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stderr.strip().splitlines()[-1])
        assert (summary["published"], summary["acked"]) == (sent, sent + 2), summary
        wait_for(lambda: len(recorder.messages) == sent, 15, "the emulator's messages")
    finally:
        recorder.close()
    return EmulatorRun(adapter=adapter, sink=sink, published=recorder.messages)


def offsets(settings: Settings, topic: str, group: str) -> tuple[int, int]:
    """(records in ``topic``, of them committed by ``group``), over all its partitions."""
    consumer = Consumer(client_config(settings, {"group.id": group, "enable.auto.commit": False}))
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        partitions = [TopicPartition(topic, p) for p in metadata.partitions]
        total = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions)
        committed = sum(max(tp.offset, 0) for tp in consumer.committed(partitions, timeout=10))
        return total, committed
    finally:
        consumer.close()


def wait_sink_committed(run: Pipeline, emulated: EmulatorRun, total: int) -> None:
    """Waits until the run's topic holds ``total`` records and the sink committed all of them
    (failing at once if the sink exited), then checks no dead letter reached the adapter's DLQ."""
    sink, settings = emulated.sink, run.sink.settings

    def sink_committed_all() -> bool:
        assert sink.proc.poll() is None, f"the sink exited:\n{sink.text()[-3000:]}"
        return offsets(settings, run.sink.topic, run.sink.group) == (total, total)

    wait_for(sink_committed_all, 45, f"the sink to commit all {total} records")
    assert offsets(settings, run.adapter.dlq_topic, run.sink.group)[0] == 0


def stored_rows(sink: SinkEnv, columns: str) -> list[dict[str, Any]]:
    """``columns`` of every row of the schema's sensor_readings ([] until the sink has created
    the table)."""
    table = f'"{sink.schema}".sensor_readings'
    with sink.engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
            return []
        result = conn.execute(text(f"SELECT {columns} FROM {table}"))
        return [dict(row) for row in result.mappings()]
