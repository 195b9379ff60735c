"""Kafka -> TimescaleDB rows/s of the real sink service, next to a raw COPY of the same rows into
the same table (fresh schemas, same migrations and indexes) in the same run; then p50/p95 of
the README's TimescaleDB queries over 30 days x 50 devices of readings.

Target: the sink sustains at least 70 % of the raw COPY rate (issue 19); dashboard queries
p95 < 100 ms. Each configuration runs ROUNDS times, interleaved with the raw COPY reference;
the best of each is compared (the machine is shared: the best run is the least disturbed).
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from confluent_kafka.schema_registry import SchemaRegistryClient
from sqlalchemy import Engine, text

from bench.common import create_topic, delete_topic, ratio_line, stack
from bench.cpu import named_cpu, tree_cpu
from bench.sink_stages import print_stage_costs
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
# Worker counts measured next to the configured default (BENCH_SINK_WORKERS="2 3").
WORKER_COUNTS = [int(n) for n in os.environ.get("BENCH_SINK_WORKERS", "1 2").split()]
ROUNDS = int(os.environ.get("BENCH_SINK_ROUNDS", "2"))
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


@dataclass(frozen=True)
class Drained:
    """Rows/s, and CPU microseconds a row of the writer (the sink's processes, or the bench's
    raw COPY) and of PostgreSQL (all its processes) meanwhile."""

    rate: float
    client_us: float
    server_us: float

    def __str__(self) -> str:
        return f"{self.rate:,.0f} ({self.client_us:.0f}+{self.server_us:.0f} us)"


def sink_rate(topic: str, *, when_caught_up: bool | None, **settings: str) -> float:
    """Rows/s of :func:`sink_drain`."""
    return sink_drain(topic, when_caught_up=when_caught_up, **settings).rate


def sink_drain(topic: str, *, when_caught_up: bool | None, **settings: str) -> Drained:
    """Rows/s the sink service sustains from its first stored row to the last, with or without
    latency-aware batching (DATA_SINK_WRITE_WHEN_CAUGHT_UP); ``settings``: more of the service's
    environment (e.g. DATA_SINK_COPY_FORMAT="text", the earlier path)."""
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
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    if when_caught_up is not None:
        env["DATA_SINK_WRITE_WHEN_CAUGHT_UP"] = str(when_caught_up).lower()
    sink = subprocess.Popen([sys.executable, str(REPO_ROOT / "run_timescaledb_sink.py")], env=env)
    try:
        first_at = first_count = None
        cpu_first = (0.0, 0.0)
        deadline = time.monotonic() + 600
        while (stored := _count(engine)) < RECORDS:
            if sink.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sink stopped or stalled at {stored} of {RECORDS} rows")
            if stored and first_at is None:
                first_at, first_count = time.monotonic(), stored
                cpu_first = (tree_cpu(sink.pid), named_cpu("postgres"))
            time.sleep(0.05)
        done_at = time.monotonic()
        cpu_done = (tree_cpu(sink.pid), named_cpu("postgres"))
        if first_at is None or first_count is None:  # everything landed between two polls
            return Drained(float("inf"), math.nan, math.nan)
        rows = RECORDS - first_count
        return Drained(
            rows / (done_at - first_at),
            _per_row(cpu_done[0] - cpu_first[0], rows),
            _per_row(cpu_done[1] - cpu_first[1], rows),
        )
    finally:
        sink.terminate()
        sink.wait(30)
        _drop_schema(engine, schema)


def _per_row(seconds: float, rows: int) -> float:
    """CPU microseconds a row; NaN when a process ended between the readings (its CPU time left
    the sum)."""
    return seconds / rows * 1e6 if seconds >= 0 and rows > 0 else math.nan


def _count_until(engine: Engine, done: threading.Event) -> None:
    while not done.wait(0.05):
        _count(engine)


def raw_copy_rate(records: list[dict]) -> float:
    return raw_copy_drain(records).rate


def raw_copy_drain(records: list[dict], *, counted: bool = True) -> Drained:
    """One client COPYing the prebuilt rows as text in the sink's batch size, while the table's
    rows are counted every 50 ms as they are for the sink (the same load on PostgreSQL; without
    ``counted``, as the reference was measured before)."""
    schema, engine = _fresh_schema("copy")
    rows = [reading_to_row(record) for record in records]
    batch = load_settings().data_sink_batch_size
    done = threading.Event()
    counting = threading.Thread(target=_count_until, args=(engine, done), daemon=True)
    try:
        if counted:
            counting.start()
        started, cpu, server = time.perf_counter(), time.process_time(), named_cpu("postgres")
        for i in range(0, len(rows), batch):
            raw_copy(engine, rows[i : i + batch])
        elapsed = time.perf_counter() - started
        done.set()
        if counted:
            counting.join()
        client_us = _per_row(time.process_time() - cpu, len(rows))
        server_us = _per_row(named_cpu("postgres") - server, len(rows))
        return Drained(len(rows) / elapsed, client_us, server_us)
    finally:
        _drop_schema(engine, schema)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


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


SECURED = "Kafka SASL_SSL (iot-sink)"


def variants() -> dict[str, dict[str, str]]:
    """The sink's configurations measured, by name: the default first (service environment)."""
    found = {
        "default settings": {},
        "decode, then write": {"DATA_SINK_WRITE_IN_BACKGROUND": "false"},
        "fastavro, then encode (no transcoding)": {"DATA_SINK_TRANSCODE": "false"},
        "size-or-age batches": {"DATA_SINK_WRITE_WHEN_CAUGHT_UP": "false"},
        "COPY text (earlier path)": {"DATA_SINK_COPY_FORMAT": "text"},
        # The cost of security: the same records over SASL_SSL/SCRAM as the sink's principal.
        SECURED: client_env(stack(), SINK),
    }
    default_workers = load_settings().sink_workers
    for n in WORKER_COUNTS:
        if n != default_workers:
            found[f"SINK_WORKERS={n}"] = {"SINK_WORKERS": str(n)}
    return found


def measure_rounds(
    topic: str, records: list[dict]
) -> tuple[dict[str, list[Drained]], list[Drained], list[Drained]]:
    """ROUNDS rounds of: raw COPY, then each sink variant, interleaved so that the shared
    machine's changing load falls on all of them alike."""
    rates: dict[str, list[Drained]] = {name: [] for name in variants()}
    references: list[Drained] = []
    uncounted: list[Drained] = []
    for round_ in range(ROUNDS):
        references.append(raw_copy_drain(records))
        uncounted.append(raw_copy_drain(records, counted=False))
        for name, env in variants().items():
            rates[name].append(sink_drain(topic, when_caught_up=None, **env))
        print(f"round {round_ + 1} of {ROUNDS} done; load average {_load()}", flush=True)
    return rates, references, uncounted


def run() -> int:
    print_stage_costs()
    config = stack()
    topic = create_topic(config.kafka_bootstrap, "bench-sink")
    settings = load_settings()
    try:
        records = _fill_topic(topic)
        print(
            f"records: {RECORDS:,} on a 6-partition topic (RF 3); batch size "
            f"{settings.data_sink_batch_size}; default SINK_WORKERS={settings.sink_workers}; "
            f"load average {_load()}",
            flush=True,
        )
        rates, references, uncounted = measure_rounds(topic, records)
    finally:
        delete_topic(config.kafka_bootstrap, topic)
    reference = max(r.rate for r in references)
    print(
        f"best of {ROUNDS} rounds (each round: raw COPY, then every sink configuration); each "
        "run: rows/s (CPU us a row: writer + PostgreSQL)"
    )
    for name, drains in rates.items():
        runs = ", ".join(str(d) for d in drains)
        best = max(d.rate for d in drains)
        print(f"sink, {name + ':':<27}{best:>10,.0f} rows/s  (runs: {runs})")
    runs = ", ".join(str(d) for d in references)
    print(f"raw COPY, one client, COPY text: {reference:>9,.0f} rows/s  (runs: {runs})")
    bare = max(r.rate for r in uncounted)
    runs = ", ".join(str(d) for d in uncounted)
    print(f"raw COPY, rows not counted:      {bare:>9,.0f} rows/s  (runs: {runs})")
    print(
        "The sink's rows are counted every 50 ms (SELECT count(*)) to time it; the reference "
        "runs with the same counting, and once without, as it was measured before."
    )
    for name, drains in rates.items():
        best = max(d.rate for d in drains)
        print(ratio_line(f"sink ({name}) / raw COPY", best, reference, 0.70))
        print(ratio_line(f"sink ({name}) / raw COPY not counted", best, bare, 0.70))
    plain, secured = (max(d.rate for d in rates[k]) for k in ("default settings", SECURED))
    print(
        f"security on/off, sink: {secured:,.0f} rows/s on Kafka SASL_SSL/SCRAM (iot-sink) vs "
        f"{plain:,.0f} rows/s on PLAINTEXT, same records: {secured / plain:.2f}x"
    )
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
