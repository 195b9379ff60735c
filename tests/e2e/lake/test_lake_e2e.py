"""The lake archiver as a real process over the real stack (Kafka x3, registry, PostgreSQL for the
sink it is compared with): exactly once through a SIGKILL, equal to TimescaleDB, schema
evolution without rewriting data files."""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from sqlalchemy import text

from devstack.pipeline import metric_samples
from iot_pipeline.kafka.config import client_config
from iot_pipeline.kafka.producer import AvroProducer
from iot_pipeline.schemas.registry import load_schema
from tests.e2e.lake.harness import (
    ArchiverProcess,
    archived,
    full_readings,
    lake_env,
    table_writer,
)
from tests.e2e.sink.harness import SinkEnv, SinkProcess, wait_for
from tests.monitoring.conftest import RULES
from tests.monitoring.grafana import (
    base_metric,
    expand_promql,
    load_dashboards,
    metric_names,
    queries,
)

pytestmark = pytest.mark.e2e

StartArchiver = Callable[[dict[str, str]], ArchiverProcess]
StartSink = Callable[[dict[str, str]], SinkProcess]
COLUMNS = (
    "device_id", "device_type", "timestamp", "value", "unit", "battery_level",
    "signal_strength", "firmware_version", "is_anomaly", "tag_mac", "gateway_id", "rssi",
    "measurement_sequence",
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def producer(env: SinkEnv, schema: str | None = None) -> AvroProducer:
    return AvroProducer.create(
        env.settings,
        SchemaRegistryClient({"url": env.settings.schema_registry_url}),
        schema or load_schema("iot_sensor_reading.avsc"),
        env.topic,
        client_id="lake-e2e-test",
    )


def produce_steadily(
    env: SinkEnv, records: list[dict[str, Any]], seconds: float
) -> threading.Thread:
    """Produce the records spread over `seconds` in a background thread."""

    def run() -> None:
        out = producer(env)
        chunk = max(1, len(records) // int(seconds * 10))
        for start in range(0, len(records), chunk):
            for record in records[start : start + chunk]:
                out.produce(record["device_id"], record)
            out.poll(0)
            time.sleep(0.1)
        assert out.flush(60) == 0

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def rows_archived(port: int) -> float:
    try:
        return metric_samples(port, timeout=5).get("iot_lake_rows_archived_total", 0.0)
    except OSError:
        return 0.0


def high_watermarks(env: SinkEnv) -> dict[int, int]:
    consumer = Consumer(client_config(env.settings, {"group.id": "x"}))
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(env.topic, p), timeout=10)[1]
            for p in range(3)
        }
    finally:
        consumer.close()


def timescaledb_rows(env: SinkEnv, prefix: str) -> list[tuple[Any, ...]]:
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    with env.engine.connect() as conn:
        result = conn.execute(
            text(
                f"SELECT {columns}, "
                "latitude, longitude, location_building, location_floor "
                f'FROM "{env.schema}".sensor_readings WHERE device_id LIKE :p '
                'ORDER BY device_id, "timestamp"'
            ),
            {"p": prefix + "%"},
        )
        return [tuple(row) for row in result]


def lake_rows(env: dict[str, str]) -> list[tuple[Any, ...]]:
    table = archived(env).sort_by([("device_id", "ascending"), ("timestamp", "ascending")])
    out = []
    for row in table.to_pylist():
        location = row["location"] or {}
        out.append(
            (
                *(row[c] for c in COLUMNS),
                location.get("latitude"),
                location.get("longitude"),
                location.get("building"),
                location.get("floor"),
            )
        )
    return out


def lake_metrics_used_by_monitoring() -> set[str]:
    """Every iot_lake_* metric an alert rule or a dashboard panel reads."""
    import yaml

    exprs = [
        rule["expr"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    ]
    exprs += [
        expand_promql(q.text)
        for board in load_dashboards().values()
        for q in queries(board)
        if q.datasource == "prometheus"
    ]
    return {n for e in exprs for n in metric_names(e) if n.startswith("iot_lake_")}


def test_sigkill_mid_stream_then_restart_archives_each_reading_exactly_once_equal_to_timescaledb(
    sink_env: SinkEnv, start_sink: StartSink, start_archiver: StartArchiver, tmp_path: Path
) -> None:
    total = 6000
    records = full_readings("lake-once", total)
    port = free_port()
    env = lake_env(sink_env, tmp_path / "lake", port)
    sink = start_sink(sink_env.env())
    first = start_archiver(env)
    feeding = produce_steadily(sink_env, records, seconds=12)
    # Killed mid-stream: after some commits, while readings still arrive and some are buffered.
    wait_for(lambda: rows_archived(port) >= 1000, 90, "the first archived rows")
    assert feeding.is_alive(), "the producer finished before the kill: not mid-stream"
    first.kill()
    committed_before_restart = table_writer(env).table_offsets()
    assert 0 < sum(committed_before_restart.values()) < total
    second = start_archiver(env)
    feeding.join(120)
    marks = high_watermarks(sink_env)
    assert sum(marks.values()) == total
    wait_for(lambda: table_writer(env).table_offsets() == marks, 120, "the table at the end")
    table = archived(env)
    assert table.num_rows == total, second.text()[-3000:]
    keys = set(zip(table["device_id"].to_pylist(), table["timestamp"].to_pylist(), strict=True))
    assert len(keys) == total  # none twice
    # The same readings as the TimescaleDB sink stored, column for column.
    wait_for(lambda: sink_env.count("lake-once") == total, 120, "the sink to store them all")
    assert lake_rows(env) == timescaledb_rows(sink_env, "lake-once")
    metrics = metric_samples(port, timeout=10)
    assert metrics["iot_lake_files_written_total"] >= 1
    assert metrics["iot_lake_commit_duration_seconds_count"] >= 1
    assert metrics["iot_lake_last_commit_timestamp_seconds"] > 0
    wait_for(
        lambda: metric_samples(port, timeout=10)["iot_lake_snapshot_lag_messages"] == 0,
        30,
        "zero snapshot lag",
    )
    exposed = {base_metric(name.split("{")[0]) for name in metrics}
    used = lake_metrics_used_by_monitoring()
    assert used and {base_metric(n) for n in used} <= exposed
    assert second.stop() == 0
    sink.stop()


def test_an_optional_field_added_to_the_contract_evolves_the_table_without_rewriting_files(
    sink_env: SinkEnv, start_archiver: StartArchiver, tmp_path: Path
) -> None:
    port = free_port()
    env = lake_env(sink_env, tmp_path / "lake", port)
    archiver = start_archiver(env)
    old = full_readings("lake-v1", 500)
    out = producer(sink_env)
    for record in old:
        out.produce(record["device_id"], record)
    assert out.flush(60) == 0
    wait_for(lambda: rows_archived(port) >= 500, 90, "the v1 readings")
    writer = table_writer(env)
    files_before = {t.file.file_path for t in writer.table.scan().plan_files()}
    schema = json.loads(load_schema("iot_sensor_reading.avsc"))
    evolved = copy.deepcopy(schema)
    evolved["fields"].append(
        {"name": "air_quality_index", "type": ["null", "double"], "default": None}
    )
    new = [{**r, "air_quality_index": 42.5} for r in full_readings("lake-v2", 300)]
    out = producer(sink_env, json.dumps(evolved))
    for record in new:
        out.produce(record["device_id"], record)
    assert out.flush(60) == 0
    wait_for(lambda: rows_archived(port) >= 800, 90, "the v2 readings")
    writer.table.refresh()
    field = writer.table.schema().find_field("air_quality_index")
    assert not field.required
    data = archived(env)
    by_prefix: dict[str, set[Any]] = {}
    for device, value in zip(
        data["device_id"].to_pylist(), data["air_quality_index"].to_pylist(), strict=True
    ):
        by_prefix.setdefault(device.split("-")[1], set()).add(value)
    assert by_prefix == {"v1": {None}, "v2": {42.5}}
    files_after = {t.file.file_path for t in writer.table.scan().plan_files()}
    assert files_before <= files_after  # the v1 files are still the table's, not rewritten
    assert archiver.stop() == 0
