"""The simulator service, run as users run it, against the real brokers and registry."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict

import pytest
from confluent_kafka import Consumer

from iot_pipeline.kafka.consumer import FramedAvroDecoder

pytestmark = pytest.mark.integration

READINGS = 600
DEVICES = 12


def read_all(bootstrap, group, topic, decoder, expected, quiet_s=3.0, limit_s=60.0):
    """Every record on the topic: reads until `expected` arrived and then `quiet_s` of silence,
    so a duplicate or extra record would be seen too."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records = []
    deadline = time.monotonic() + limit_s
    last_arrival = time.monotonic()
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                if len(records) >= expected and time.monotonic() - last_arrival > quiet_s:
                    break
                continue
            assert message.error() is None, message.error()
            records.append((message.key().decode(), message.partition(), decoder(message)))
            last_arrival = time.monotonic()
    finally:
        consumer.close()
    return records


def test_simulator_produces_exactly_n_readings_keyed_by_device(
    stack,
    kafka_bootstrap_servers,
    schema_registry_url,
    schema_registry_client,
    unique_name,
    consumer_group_factory,
    kafka_admin,
    repo_root,
):
    topic, dlq, alerts = unique_name("sim"), unique_name("sim-dlq"), unique_name("sim-alerts")
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "SCHEMA_REGISTRY_URL": schema_registry_url,
        "KAFKA_TOPIC_NAME": topic,
        "KAFKA_DLQ_TOPIC_NAME": dlq,
        "KAFKA_ALERTS_TOPIC_NAME": alerts,
        "IOT_NUM_DEVICES": str(DEVICES),
        "IOT_DATA_INTERVAL_SEC": "0",
        "IOT_MAX_READINGS": str(READINGS),
        "IOT_ANOMALY_PROBABILITY": "0.1",
        "IOT_RANDOM_SEED": "3",
        "SIMULATOR_METRICS_PORT": "0",
    }
    try:
        result = subprocess.run(
            [sys.executable, "run_producer.py"],
            cwd=repo_root,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"stopped after {READINGS} messages, all delivered" in result.stderr

        # The admin step created all three topics as configured.
        metadata = kafka_admin.list_topics(timeout=10).topics
        assert {topic, dlq, alerts} <= set(metadata)
        assert len(metadata[topic].partitions) == 6
        assert all(len(p.replicas) == 3 for p in metadata[topic].partitions.values())

        records = read_all(
            kafka_bootstrap_servers,
            consumer_group_factory("sim-check"),
            topic,
            FramedAvroDecoder(schema_registry_client),
            READINGS,
        )
    finally:
        for future in kafka_admin.delete_topics([topic, dlq, alerts]).values():
            future.result()

    assert len(records) == READINGS
    partitions_by_device = defaultdict(set)
    for key, partition, value in records:
        assert key == value["device_id"]
        assert value["timestamp"].tzinfo is not None
        partitions_by_device[key].add(partition)
    assert len(partitions_by_device) == DEVICES
    assert all(len(partitions) == 1 for partitions in partitions_by_device.values())
    # Records are spread over several partitions, not piled on one.
    assert len(set().union(*partitions_by_device.values())) > 1
    assert any(value["is_anomaly"] for _, _, value in records)
