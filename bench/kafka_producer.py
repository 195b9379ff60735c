"""Simulator -> Kafka readings/s (acks=all, RF 3, Avro through the registry), next to Kafka's own
ProducerPerformance with the same record size, acks and producer settings, in the same run."""

from __future__ import annotations

import os
import random
import re
import subprocess
import threading
import time
from datetime import UTC, datetime

from confluent_kafka.schema_registry import SchemaRegistryClient
from prometheus_client import CollectorRegistry

from bench.common import create_topic, delete_topic, ratio_line, stack
from iot_pipeline.config import load_settings
from iot_pipeline.kafka.producer import AvroProducer, ProducerMetrics
from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema
from iot_pipeline.schemas.reading_encoder import verified_encoder
from iot_pipeline.simulator import service as simulator

RECORDS = int(os.environ.get("BENCH_PRODUCER_RECORDS", "200000"))


def simulator_rate(topic: str, bootstrap: str, registry_url: str) -> tuple[float, int]:
    """Readings/s from the simulator's own code path at full speed; returns (rate, avg bytes)."""
    settings = load_settings(
        kafka_bootstrap_servers=bootstrap,
        schema_registry_url=registry_url,
        iot_num_devices=50,
        iot_data_interval_sec=0.0,
    )
    registry = CollectorRegistry()
    producer = AvroProducer.create(
        settings,
        SchemaRegistryClient({"url": registry_url}),
        load_schema(READING_SCHEMA_FILE),
        topic,
        client_id="bench-simulator",
        metrics=ProducerMetrics(registry),
    )
    producer.use_encoder(
        verified_encoder(
            producer.serialize, load_schema(READING_SCHEMA_FILE), simulator.sample_records()
        )
    )
    intervals, source = simulator.kafka_source(settings, random.Random(1))
    sample = [producer.serialize(source(i, datetime.now(UTC))[1]) for i in range(len(intervals))]
    record_size = round(sum(map(len, sample)) / len(sample))
    emitter = simulator.KafkaEmitter(producer)
    started = time.perf_counter()
    metrics = simulator.SimulatorMetrics(registry)
    simulator.run(emitter, intervals, source, metrics, threading.Event(), RECORDS)
    undelivered = emitter.close()
    elapsed = time.perf_counter() - started
    if undelivered:
        raise RuntimeError(f"{undelivered} records undelivered")
    return RECORDS / elapsed, record_size


def perf_test_rate(topic: str, bootstrap: str, record_size: int, kafka_home: str) -> float:
    settings = load_settings()
    command = [
        "java",
        "-Xmx512m",
        "-cp",
        f"{kafka_home}/libs/*",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(RECORDS),
        "--record-size",
        str(record_size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={bootstrap}",
        "acks=all",
        "enable.idempotence=true",
        f"compression.type={settings.kafka_compression_type}",
        f"linger.ms={int(settings.kafka_linger_ms)}",
        f"batch.size={settings.kafka_batch_size}",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    final = output.strip().splitlines()[-1]
    match = re.search(r"([\d.]+) records/sec", final)
    if not match:
        raise RuntimeError(f"unexpected ProducerPerformance output: {final}")
    return float(match.group(1))


def run() -> int:
    config = stack()
    bootstrap, registry_url = config.kafka_bootstrap, config.registry_url
    ours_topic = create_topic(bootstrap, "bench-simulator")
    perf_topic = create_topic(bootstrap, "bench-perf")
    try:
        ours, record_size = simulator_rate(ours_topic, bootstrap, registry_url)
        reference = perf_test_rate(perf_topic, bootstrap, record_size, str(config.kafka_home))
    finally:
        delete_topic(bootstrap, ours_topic)
        delete_topic(bootstrap, perf_topic)
    print(f"records: {RECORDS}, Avro record size: {record_size} bytes, acks=all, RF 3, minISR 2")
    print(f"simulator -> Kafka:            {ours:>10,.0f} readings/s")
    print(f"kafka ProducerPerformance:     {reference:>10,.0f} records/s")
    print(ratio_line("simulator / ProducerPerformance", ours, reference, 0.30))
    return 0
