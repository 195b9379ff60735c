"""The e2e benchmark's bare references, measured in the same run: MQTT alone, Kafka produce ->
consume alone, COPY alone; and each stage's share of them as ratios."""

from __future__ import annotations

import math
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from sqlalchemy import text

from bench.adapter_process import message, reference_rate
from bench.common import create_topic, delete_topic
from bench.e2e_stats import ratio as share
from bench.storage import raw_copy, synthetic_rows
from devstack.config import StackConfig
from iot_pipeline.config import Settings
from iot_pipeline.kafka.config import client_config, producer_config
from iot_pipeline.storage.engine import create_db_engine
from iot_pipeline.storage.migrate import apply_migrations, default_migrations_dir

RECORD_BYTES = 180  # about one Avro reading in Confluent framing
COPY_BATCH = 5000


def mqtt_rate(cfg: StackConfig, count: int) -> float:
    """mosquitto_pub -> Mosquitto -> paho subscriber, QoS 1: messages/s."""
    with tempfile.TemporaryDirectory() as folder:
        lines = Path(folder) / "messages.jsonl"
        lines.write_text("".join(message(i) + "\n" for i in range(count)))
        rate, received, _cpu = reference_rate(cfg.mqtt_port, lines, count)
    return rate if received == count else math.nan


def kafka_rate(settings: Settings, count: int) -> float:
    """Produce ``count`` records (acks=all, RF 3, the services' producer settings) and consume
    them: records/s from the first produce to the last record consumed."""
    topic = create_topic(settings.kafka_bootstrap_servers, "bench-e2e-kafka")
    try:
        producer = Producer(producer_config(settings, "bench-e2e-kafka"))
        payload = os.urandom(RECORD_BYTES)
        started = time.monotonic()
        for i in range(count):
            producer.produce(topic, payload, key=str(i % 64).encode())
            producer.poll(0)
        producer.flush(60)
        consumer = Consumer(
            client_config(
                settings,
                {"group.id": f"bench-e2e-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False},
            )
        )
        # Every partition from its start, assigned once the records are in: a consumer that
        # subscribed (or was assigned) right after the topic was made sometimes read nothing for
        # minutes on a fresh cluster (its first metadata or offset query finds the topic unknown).
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        seen = 0
        deadline = time.monotonic() + 120
        while seen < count and time.monotonic() < deadline:
            seen += sum(1 for m in consumer.consume(1000, 1.0) if m.error() is None)
        elapsed = time.monotonic() - started
        consumer.close()
        if seen != count:
            print(f"Kafka alone: {seen:,} of {count:,} records consumed", flush=True)
        return seen / elapsed if seen == count else math.nan
    finally:
        delete_topic(settings.kafka_bootstrap_servers, topic)


def copy_rate(settings: Settings, count: int) -> float:
    """COPY ``count`` rows into a fresh schema's sensor_readings, 5,000 a transaction: rows/s."""
    schema = f"bench_e2e_copy_{uuid.uuid4().hex[:8]}"
    engine = create_db_engine(settings.model_copy(update={"postgres_schema": schema}))
    apply_migrations(engine, default_migrations_dir(), schema)
    rows = synthetic_rows(count, 64, "e2e-copy")
    try:
        started = time.perf_counter()
        for i in range(0, len(rows), COPY_BATCH):
            raw_copy(engine, rows[i : i + COPY_BATCH])
        return len(rows) / (time.perf_counter() - started)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def measure(cfg: StackConfig, settings: Settings, rows: int, messages: int) -> dict[str, float]:
    """The three references: MQTT messages/s, Kafka records/s, COPY rows/s."""
    print("bare references ...", flush=True)
    return {
        "mqtt_msgs_per_s": mqtt_rate(cfg, messages),
        "kafka_records_per_s": kafka_rate(settings, max(rows, 10000)),
        "copy_rows_per_s": copy_rate(settings, max(rows, 10000)),
    }


def ratios(capacity: float, per_message: float, references: dict[str, float]) -> dict[str, float]:
    """The pipeline's capacity as a share of each stage alone (same unit for each)."""
    return {
        "pipeline_vs_mqtt": share(capacity, references["mqtt_msgs_per_s"]),
        "pipeline_vs_kafka": share(capacity * per_message, references["kafka_records_per_s"]),
        "pipeline_vs_copy": share(capacity * per_message, references["copy_rows_per_s"]),
    }


def lines(references: dict[str, float], shares: dict[str, float]) -> list[str]:
    return [
        f"MQTT alone (mosquitto_pub -> paho, QoS 1): {references['mqtt_msgs_per_s']:>10,.0f} msg/s"
        f"  pipeline = {shares['pipeline_vs_mqtt']:.1%}",
        f"Kafka alone (produce -> consume, RF 3):    {references['kafka_records_per_s']:>10,.0f} "
        f"records/s  pipeline = {shares['pipeline_vs_kafka']:.1%}",
        f"COPY alone (5,000 rows a transaction):     {references['copy_rows_per_s']:>10,.0f} rows/s"
        f"  pipeline = {shares['pipeline_vs_copy']:.1%}",
    ]


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "system": platform.platform(),
        "load_average_at_end": load,
    }
