"""AvroProducer against the real brokers and registry: every record's outcome is counted in the
producer metrics (delivered, failed, librdkafka's latency), a caller's callback still sees each
outcome, and enqueue() (the adapter's lean path) delivers too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from iot_pipeline.config import load_settings
from iot_pipeline.kafka.producer import AvroProducer, ProducerMetrics
from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema

pytestmark = pytest.mark.integration


def _record(n: int) -> dict[str, Any]:
    return {
        "device_id": f"producer-test-{n % 3}",
        "device_type": "temperature_sensor",
        "timestamp": datetime(2026, 11, 23, 12, 0, n % 60, tzinfo=UTC),
        "value": 20.0 + n,
        "unit": "°C",
        "location": None,
        "battery_level": None,
        "signal_strength": None,
        "firmware_version": None,
        "is_anomaly": False,
        "metadata": {},
        "tag_mac": None,
        "gateway_id": None,
        "rssi": None,
        "measurement_sequence": n,
    }


def _sample(registry: CollectorRegistry, name: str, topic: str) -> float:
    return registry.get_sample_value(name, {"topic": topic}) or 0.0


def test_outcomes_are_counted_and_reach_the_callers_callback(
    kafka_bootstrap_servers, schema_registry_url, schema_registry_client, kafka_topic_factory
) -> None:
    topic = kafka_topic_factory("producer")
    settings = load_settings(
        kafka_bootstrap_servers=kafka_bootstrap_servers, schema_registry_url=schema_registry_url
    )
    registry = CollectorRegistry()
    producer = AvroProducer.create(
        settings,
        schema_registry_client,
        load_schema(READING_SCHEMA_FILE),
        topic,
        client_id="producer-test",
        metrics=ProducerMetrics(registry),
        # Give up on the missing topic below after 2 s rather than librdkafka's 30 s.
        extra_config={"topic.metadata.propagation.max.ms": 2000},
    )
    outcomes: list[Any] = []
    for n in range(20):
        producer.produce(f"producer-test-{n % 3}", _record(n))
    for n in range(20, 25):
        producer.produce(
            f"producer-test-{n % 3}", _record(n), on_delivery=lambda e, _m: outcomes.append(e)
        )
    confirmed: list[Any] = []
    for n in range(25, 30):
        producer.enqueue(
            topic, b"k", producer.serialize(_record(n)), lambda e, _m: confirmed.append(e)
        )
    # A topic that does not exist (auto-creation is off): the record fails, and is counted.
    producer.produce_raw(f"{topic}-missing", b"k", b"v")
    assert producer.flush(60) == 0

    assert outcomes == [None] * 5
    assert confirmed == [None] * 5
    assert _sample(registry, "kafka_producer_messages_delivered_total", topic) == 25
    assert _sample(registry, "kafka_producer_delivery_latency_seconds_count", topic) == 25
    assert 0 < _sample(registry, "kafka_producer_delivery_latency_seconds_sum", topic) < 25 * 30
    assert _sample(registry, "kafka_producer_delivery_failures_total", f"{topic}-missing") == 1


def test_enqueue_batch_delivers_each_record_to_its_keys_partition(
    kafka_bootstrap_servers, schema_registry_url, schema_registry_client, kafka_topic_factory
) -> None:
    """produce_batch() (the adapter's path) partitions by key exactly like produce()."""
    topic = kafka_topic_factory("producer-batch")
    settings = load_settings(
        kafka_bootstrap_servers=kafka_bootstrap_servers, schema_registry_url=schema_registry_url
    )
    producer = AvroProducer.create(
        settings,
        schema_registry_client,
        load_schema(READING_SCHEMA_FILE),
        topic,
        client_id="producer-batch-test",
    )
    keys = [f"be:ac:00:00:00:{n:02x}_temperature".encode() for n in range(30)]
    one_by_one: dict[bytes, int] = {}
    batched: dict[bytes, int] = {}
    for key in keys:
        producer.enqueue(
            topic, key, b"v", lambda e, m: one_by_one.setdefault(m.key(), m.partition())
        )
    refused = producer.enqueue_batch(
        topic,
        [(key, producer.serialize(_record(n))) for n, key in enumerate(keys)],
        lambda e, m: batched.setdefault(m.key(), m.partition()) if e is None else None,
    )
    assert refused == []
    assert producer.flush(60) == 0
    assert batched == one_by_one
    assert len(set(batched.values())) > 1  # spread over partitions, not all on one
