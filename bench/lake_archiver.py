"""Kafka -> Iceberg rows/s of the real lake archiver (run_lake_archiver.py), next to writing the
same Arrow data straight to one Parquet file (pyarrow, zstd) and to appending it to a fresh
Iceberg table with the archiver's writer (no Kafka), in the same run.

The archiver's figure covers consuming, Avro decoding, Python -> Arrow conversion, sorting, the
Parquet files and the Iceberg commits (with LAKE_ROLL_INTERVAL=2 s so it commits as it goes).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka.schema_registry import SchemaRegistryClient

from bench.common import create_topic, delete_topic, stack
from devstack.config import REPO_ROOT
from devstack.pipeline import metric_samples
from iot_pipeline.config import load_settings
from iot_pipeline.kafka.producer import AvroProducer
from iot_pipeline.lake.catalog import open_catalog, open_table
from iot_pipeline.lake.writer import LakeWriter
from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema
from iot_pipeline.simulator import service as simulator

RECORDS = int(os.environ.get("BENCH_LAKE_RECORDS", "100000"))
ROLL_INTERVAL_S = "2"


def _fill_topic(topic: str) -> None:
    config = stack()
    settings = load_settings(
        kafka_bootstrap_servers=config.kafka_bootstrap,
        schema_registry_url=config.registry_url,
        iot_num_devices=50,
        iot_data_interval_sec=0.0,
    )
    producer = AvroProducer.create(
        settings,
        SchemaRegistryClient({"url": settings.schema_registry_url}),
        load_schema(READING_SCHEMA_FILE),
        topic,
        client_id="bench-lake-fill",
    )
    intervals, source = simulator.kafka_source(settings, random.Random(11))
    start = datetime.now(UTC) - timedelta(hours=36)  # spans two or three day partitions
    for i in range(RECORDS):
        at = start + timedelta(milliseconds=500 * (i // len(intervals)))
        _, record, _, _ = source(i % len(intervals), at)
        producer.produce(record["device_id"], record)
    if producer.flush(60):
        raise RuntimeError("could not fill the benchmark topic")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _archived(port: int) -> float:
    try:
        return metric_samples(port).get("iot_lake_rows_archived_total", 0.0)
    except OSError:
        return 0.0


def archiver_rate(topic: str, lake_dir: Path) -> float:
    """Rows/s the archiver sustains from its first committed row to the last."""
    config = stack()
    port = _free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": config.kafka_bootstrap,
        "SCHEMA_REGISTRY_URL": config.registry_url,
        "KAFKA_TOPIC_NAME": topic,
        "KAFKA_DLQ_TOPIC_NAME": f"{topic}-dlq",
        "LAKE_DIR": str(lake_dir),
        "LAKE_CONSUMER_GROUP_ID": f"bench-lake-{uuid.uuid4().hex[:8]}",
        "LAKE_ROLL_INTERVAL": ROLL_INTERVAL_S,
        "LAKE_METRICS_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    archiver = subprocess.Popen([sys.executable, str(REPO_ROOT / "run_lake_archiver.py")], env=env)
    try:
        first_at = first_count = None
        deadline = time.monotonic() + 600
        while (archived := _archived(port)) < RECORDS:
            if archiver.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"archiver stopped or stalled at {archived} of {RECORDS} rows")
            if archived and first_at is None:
                first_at, first_count = time.monotonic(), archived
            time.sleep(0.05)
        done_at = time.monotonic()
        if first_at is None or done_at == first_at:
            return float("inf")
        return (RECORDS - first_count) / (done_at - first_at)
    finally:
        archiver.terminate()
        archiver.wait(30)


def _archived_rows(lake_dir: Path) -> pa.Table:
    settings = load_settings(lake_dir=lake_dir)
    return open_table(open_catalog(settings), settings).scan().to_arrow()


def parquet_rate(rows: pa.Table, path: Path) -> float:
    started = time.perf_counter()
    pq.write_table(rows, path, compression="zstd")
    return rows.num_rows / (time.perf_counter() - started)


def writer_rate(rows: pa.Table, lake_dir: Path) -> float:
    settings = load_settings(lake_dir=lake_dir, lake_table="iot.bench_writer")
    writer = LakeWriter(open_table(open_catalog(settings), settings), "t", "g")
    batches = rows.cast(writer.arrow_schema()).to_batches()
    started = time.perf_counter()
    writer.commit({0: batches}, {0: rows.num_rows}, {0: None})
    return rows.num_rows / (time.perf_counter() - started)


def run() -> int:
    config = stack()
    topic = create_topic(config.kafka_bootstrap, "bench-lake")
    with tempfile.TemporaryDirectory(prefix="bench-lake-") as tmp:
        lake_dir = Path(tmp)
        try:
            _fill_topic(topic)
            print(f"records: {RECORDS:,} on a 6-partition topic (RF 3)", flush=True)
            ours = archiver_rate(topic, lake_dir / "archiver")
        finally:
            delete_topic(config.kafka_bootstrap, topic)
        rows = _archived_rows(lake_dir / "archiver")
        if rows.num_rows != RECORDS:
            print(f"the table holds {rows.num_rows} rows, not {RECORDS}")
            return 1
        reference = parquet_rate(rows, lake_dir / "reference.parquet")
        appended = writer_rate(rows, lake_dir / "writer")
    print(f"archiver Kafka -> Iceberg:          {ours:>12,.0f} rows/s")
    print(f"same Arrow -> Iceberg append:       {appended:>12,.0f} rows/s (LakeWriter, no Kafka)")
    print(f"same Arrow -> one Parquet file:     {reference:>12,.0f} rows/s (pyarrow, zstd)")
    print(f"archiver / straight Parquet: {ours / reference:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
