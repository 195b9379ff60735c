"""Every SQL query of the README's TimescaleDB section runs on the real server, with data in it,
and returns rows of the documented shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bench.storage import documented_queries, markdown_section
from iot_pipeline.storage.maintenance import run_maintenance
from iot_pipeline.storage.migrate import Edition, MigrationReport
from iot_pipeline.storage.rows import reading_to_row
from iot_pipeline.storage.writer import write_batch

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[3] / "README.md"


def timescaledb_section() -> str:
    return markdown_section(README.read_text(), "TimescaleDB")


GAP_DEVICE = "c6:8d:c6:26:39:a6_temperature"

AGGREGATE = ["bucket", "device_id", "device_type", "reading_count", "avg_value", "min_value"]
SHAPES: dict[str, list[str]] = {
    "Recent sensor readings (last 24 hours)": [
        "device_id", "device_type", "value", "unit", "timestamp", "is_anomaly",
    ],
    "Time series of one device (last 7 days)": [
        "timestamp", "value", "unit", "battery_level", "is_anomaly",
    ],
    "Statistics per device within a time range (here: the two days before yesterday)": [
        "device_id", "device_type", "avg_value", "min_value", "max_value", "reading_count",
    ],
    "Hourly averages for the last week": [
        "hour_bucket", "device_id", "device_type", "avg_value", "min_value", "max_value",
        "readings_count", "anomaly_count",
    ],
    "Daily statistics per device type (last 30 days)": [
        "day_bucket", "device_type", "unique_devices", "avg_value", "std_deviation",
        "median_value", "p95_value", "total_readings", "anomaly_count", "anomaly_percentage",
    ],
    "15-minute buckets for live monitoring (last 4 hours)": [
        "time_bucket", "device_id", "avg_value", "latest_value", "latest_battery",
        "last_reading_time",
    ],
    "Gap detection: silences longer than 30 minutes (last 7 days)": [
        "device_id", "prev_timestamp", "timestamp", "time_gap", "gap_minutes",
    ],
    "Moving average over 12 readings and change from the previous reading (last 24 hours)": [
        "device_id", "timestamp", "value", "moving_avg_12_readings", "value_change",
    ],
    "Rate of change per hour (last 6 hours)": [
        "device_id", "timestamp", "value", "prev_value", "prev_timestamp", "rate_per_hour",
    ],
    "Hourly aggregates (last 7 days)": [
        *AGGREGATE, "max_value", "anomaly_count", "latest_battery_level",
    ],
    "Daily aggregates with the battery change over each day (last 30 days)": [
        *AGGREGATE, "max_value", "anomaly_count", "first_battery_level",
        "latest_battery_level", "battery_change",
    ],
    "Latest readings with their sensor-to-database latency": [
        "device_id", "sensor_emission_time", "db_insertion_time", "latency_ms",
    ],
    "Latency statistics (last 24 hours)": [
        "sample_size", "mean_latency_ms", "median_latency_ms", "p95_latency_ms",
        "p99_latency_ms", "min_latency_ms", "max_latency_ms", "stddev_ms",
    ],
    "Latency distribution per hour (last 24 hours)": [
        "hour", "message_count", "median_ms", "p95_ms", "p99_ms",
    ],
    "Readings of the last 24 hours": ["*sensor_readings"],
    "Anomalous readings": ["*sensor_readings"],
    "One row per device: totals from the daily aggregate, the latest reading live": [
        "device_id", "device_type", "reading_count", "avg_value", "min_value", "max_value",
        "anomaly_count", "first_day", "last_seen", "latest_value", "unit", "latest_battery_level",
    ],
    "Hypertables": ["hypertable_schema", "hypertable_name", "num_chunks", "compression_enabled"],
    "Chunks of sensor_readings, newest first": [
        "chunk_schema", "chunk_name", "range_start", "range_end", "is_compressed",
    ],
    "Size of sensor_readings (table, indexes, total)": ["table_size", "index_size", "total_size"],
    "Which schema migrations ran, and for which edition": [
        "version", "name", "edition", "applied_at",
    ],
    "Compression settings (community licence)": [
        "hypertable_name", "attname", "segmentby_column_index", "orderby_column_index",
        "orderby_asc",
    ],
    "Compression savings (community licence)": [
        "total_chunks", "number_compressed_chunks", "before", "after",
    ],
    "Background jobs: aggregate refresh, compression and retention policies (community licence)": [
        "job_id", "application_name", "schedule_interval", "hypertable_name", "next_start",
    ],
}  # fmt: skip


def test_every_documented_query_has_a_documented_shape() -> None:
    titles = [title for title, _ in documented_queries(timescaledb_section())]
    assert len(titles) == len(set(titles)), "titles must be unique"
    assert sorted(titles) == sorted(SHAPES)


@pytest.fixture(scope="module")
def with_data(migrated: MigrationReport, schema_engine: Engine) -> MigrationReport:
    """35 days of 5-minute readings of three devices, with a 2-hour silence of GAP_DEVICE."""
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    devices = [
        (GAP_DEVICE, "temperature_sensor", "°C"),
        ("cb:b8:33:4c:88:4f_temperature", "temperature_sensor", "°C"),
        ("cb:b8:33:4c:88:4f_humidity", "humidity_sensor", "%"),
    ]
    gap = (end - timedelta(days=2, hours=2), end - timedelta(days=2))
    rows = []
    for device, device_type, unit in devices:
        for step in range(35 * 24 * 12):
            at = end - timedelta(minutes=5 * step)
            if device == GAP_DEVICE and gap[0] < at < gap[1]:
                continue
            rows.append(
                reading_to_row(
                    {
                        "device_id": device,
                        "device_type": device_type,
                        "timestamp": at,
                        "value": 20.0 + (step % 144) / 10,
                        "unit": unit,
                        "battery_level": 60.0 + step / 1000,
                        "is_anomaly": step % 50 == 0,
                    }
                )
            )
    for i in range(0, len(rows), 5000):
        write_batch(schema_engine, rows[i : i + 5000])
    run_maintenance(schema_engine, migrated.edition, archive_after_days=30, retention_days=90)
    return migrated


@pytest.mark.parametrize(
    ("title", "sql"),
    documented_queries(timescaledb_section()),
    ids=lambda v: v[:40] if isinstance(v, str) else None,
)
def test_documented_query_returns_rows_of_the_documented_shape(
    with_data: MigrationReport, schema_engine: Engine, title: str, sql: str
) -> None:
    with schema_engine.connect() as conn:
        result = conn.execute(text(sql.replace(":", r"\:")))
        columns = list(result.keys())
        rows = result.all()
    expected = SHAPES[title]
    if expected == ["*sensor_readings"]:
        with schema_engine.connect() as conn:
            expected = list(conn.execute(text("SELECT * FROM sensor_readings LIMIT 0")).keys())
    assert columns == expected
    community_only = "(community licence)" in title
    if community_only and with_data.edition is Edition.APACHE:
        return  # these views exist on the Apache build but are empty there
    assert rows, f"{title!r} returned no rows"
    if title.startswith("Gap detection"):
        assert [round(float(r.gap_minutes)) for r in rows] == [120]
