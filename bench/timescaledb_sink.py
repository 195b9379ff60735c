"""Kafka -> TimescaleDB rows/s of the real sink service, next to a raw COPY of the same rows into
the same table (fresh schemas, same migrations and indexes) in the same run; then p50/p95 of
the README's TimescaleDB queries over 30 days x 50 devices of readings.

Target: the sink sustains at least 50 % of the raw COPY rate; dashboard queries p95 < 100 ms.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from confluent_kafka.schema_registry import SchemaRegistryClient
from sqlalchemy import Engine, text

from bench.common import create_topic, delete_topic, ratio_line, stack
from bench.storage import (
    documented_queries,
    load_history,
    markdown_section,
    query_latencies,
    raw_copy,
)
from devstack.config import REPO_ROOT
from devstack.kafka_auth import SINK
from devstack.kafka_users import client_env
from iot_pipeline.config import load_settings
from iot_pipeline.kafka.producer import AvroProducer
from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema
from iot_pipeline.simulator import service as simulator
from iot_pipeline.storage.engine import create_db_engine
from iot_pipeline.storage.maintenance import refresh_materialized_views
from iot_pipeline.storage.migrate import apply_migrations, default_migrations_dir
from iot_pipeline.storage.rows import reading_to_row

RECORDS = int(os.environ.get("BENCH_SINK_RECORDS", "100000"))
HISTORY_DAYS = int(os.environ.get("BENCH_HISTORY_DAYS", "30"))
HISTORY_DEVICES = 50
QUERY_REPEATS = 10
README = REPO_ROOT / "README.md"

# The README queries a Grafana dashboard runs on every refresh (the rest are analysis queries).
DASHBOARD_QUERIES = (
    "Recent sensor readings (last 24 hours)",
    "Time series of one device (last 7 days)",
    "15-minute buckets for live monitoring (last 4 hours)",
    "Gap detection: silences longer than 30 minutes (last 7 days)",
    "Hourly aggregates (last 7 days)",
    "Daily aggregates with the battery change over each day (last 30 days)",
    "Latest readings with their sensor-to-database latency",
    "One row per device: totals from the daily aggregate, the latest reading live",
)


def _settings(schema: str | None = None, **overrides: object):
    config = stack()
    return load_settings(
        kafka_bootstrap_servers=config.kafka_bootstrap,
        schema_registry_url=config.registry_url,
        postgres_password=config.postgres_password,
        postgres_port=config.postgres_port,
        postgres_schema=schema,
        **overrides,
    )


def _fresh_schema(prefix: str) -> tuple[str, Engine]:
    schema = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
    engine = create_db_engine(_settings(schema))
    apply_migrations(engine, default_migrations_dir(), schema)
    return schema, engine


def _drop_schema(engine: Engine, schema: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def _fill_topic(topic: str) -> list[dict]:
    """RECORDS simulated readings (50 devices, distinct timestamps) on the topic; returns them."""
    settings = _settings(iot_num_devices=50, iot_data_interval_sec=0.0)
    producer = AvroProducer.create(
        settings,
        SchemaRegistryClient({"url": settings.schema_registry_url}),
        load_schema(READING_SCHEMA_FILE),
        topic,
        client_id="bench-sink-fill",
    )
    intervals, source = simulator.kafka_source(settings, random.Random(7))
    start = datetime.now(UTC) - timedelta(hours=6)
    records = []
    for i in range(RECORDS):
        device = i % len(intervals)
        _, record, _, _ = source(device, start + timedelta(milliseconds=10 * (i // len(intervals))))
        producer.produce(record["device_id"], record)
        records.append(record)
    if producer.flush(60):
        raise RuntimeError("could not fill the benchmark topic")
    return records


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM sensor_readings")).scalar_one()


def sink_rate(topic: str, *, when_caught_up: bool, secured: bool = False) -> float:
    """Rows/s the sink service sustains from its first stored row to the last, with or without
    latency-aware batching (DATA_SINK_WRITE_WHEN_CAUGHT_UP), on the loopback PLAINTEXT listener
    or (``secured``) on the SASL_SSL one as its own principal."""
    schema, engine = _fresh_schema("sink")
    config = stack()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": config.kafka_bootstrap,
        "SCHEMA_REGISTRY_URL": config.registry_url,
        "POSTGRES_PASSWORD": config.postgres_password,
        "POSTGRES_PORT": str(config.postgres_port),
        "POSTGRES_SCHEMA": schema,
        "KAFKA_TOPIC_NAME": topic,
        "KAFKA_DLQ_TOPIC_NAME": f"{topic}-dlq",
        "SINK_CONSUMER_GROUP_ID": f"bench-sink-{uuid.uuid4().hex[:8]}",
        "SINK_METRICS_PORT": "0",
        "DATA_SINK_MAINTENANCE_INTERVAL": "3600",
        "DATA_SINK_WRITE_WHEN_CAUGHT_UP": str(when_caught_up).lower(),
        "LOG_LEVEL": "WARNING",
        **(client_env(config, SINK) if secured else {}),
    }
    sink = subprocess.Popen([sys.executable, str(REPO_ROOT / "run_timescaledb_sink.py")], env=env)
    try:
        first_at = first_count = None
        deadline = time.monotonic() + 600
        while (stored := _count(engine)) < RECORDS:
            if sink.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sink stopped or stalled at {stored} of {RECORDS} rows")
            if stored and first_at is None:
                first_at, first_count = time.monotonic(), stored
            time.sleep(0.05)
        done_at = time.monotonic()
        if first_at is None:  # everything landed between two polls
            return float("inf")
        return (RECORDS - first_count) / (done_at - first_at)
    finally:
        sink.terminate()
        sink.wait(30)
        _drop_schema(engine, schema)


def raw_copy_rate(records: list[dict]) -> float:
    schema, engine = _fresh_schema("copy")
    rows = [reading_to_row(record) for record in records]
    batch = load_settings().data_sink_batch_size
    try:
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            raw_copy(engine, rows[i : i + batch])
        return len(rows) / (time.perf_counter() - started)
    finally:
        _drop_schema(engine, schema)


def dashboard_latencies() -> dict[str, tuple[float, float]]:
    schema, engine = _fresh_schema("history")
    try:
        started = time.perf_counter()
        rows = load_history(engine, HISTORY_DAYS, HISTORY_DEVICES, every_seconds=60)
        print(f"history: {rows:,} rows loaded in {time.perf_counter() - started:.0f} s", flush=True)
        refresh_materialized_views(engine)
        section = markdown_section(README.read_text(), "TimescaleDB")
        return query_latencies(engine, documented_queries(section), QUERY_REPEATS)
    finally:
        _drop_schema(engine, schema)


def run() -> int:
    config = stack()
    topic = create_topic(config.kafka_bootstrap, "bench-sink")
    try:
        records = _fill_topic(topic)
        print(
            f"records: {RECORDS:,} on a 6-partition topic (RF 3); batch size "
            f"{load_settings().data_sink_batch_size}",
            flush=True,
        )
        before = sink_rate(topic, when_caught_up=False)
        ours = sink_rate(topic, when_caught_up=True)
        secured = sink_rate(topic, when_caught_up=True, secured=True)
    finally:
        delete_topic(config.kafka_bootstrap, topic)
    reference = raw_copy_rate(records)
    print(f"sink, size-or-age batches:       {before:>10,.0f} rows/s")
    print(f"sink, write when caught up:      {ours:>10,.0f} rows/s  (the default)")
    print(f"raw COPY of the same rows:       {reference:>10,.0f} rows/s")
    print(
        f"security on/off, sink: {secured:,.0f} rows/s on Kafka SASL_SSL/SCRAM (29392, iot-sink) "
        f"vs {ours:,.0f} rows/s on PLAINTEXT (29092), same records: {secured / ours:.2f}x"
    )
    print(ratio_line("sink (size-or-age) / raw COPY", before, reference, 0.50))
    print(ratio_line("sink (when caught up) / raw COPY", ours, reference, 0.50))
    if os.environ.get("BENCH_SINK_QUERIES", "1") == "0":
        print("README queries skipped (BENCH_SINK_QUERIES=0)")
        return 0

    latencies = dashboard_latencies()
    print(f"\nREADME queries, {QUERY_REPEATS} runs each (p50 / p95 ms); * = dashboard query:")
    slow = 0
    for title, (median, p95) in latencies.items():
        dashboard = title in DASHBOARD_QUERIES
        flag = "*" if dashboard else " "
        if dashboard and p95 >= 100:
            slow += 1
        print(f" {flag} {median:>8.1f} / {p95:>8.1f}  {title}")
    print(f"dashboard queries with p95 >= 100 ms: {slow} of {len(DASHBOARD_QUERIES)}")
    missing = set(DASHBOARD_QUERIES) - set(latencies)
    if missing:
        print(f"dashboard queries missing from the README: {sorted(missing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run())
