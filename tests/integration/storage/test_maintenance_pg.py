"""Archiving, retention and aggregate refresh against the real PostgreSQL + TimescaleDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from iot_pipeline.storage.maintenance import (
    apply_retention,
    archive_old_chunks,
    run_maintenance,
)
from iot_pipeline.storage.migrate import Edition, MigrationReport
from iot_pipeline.storage.rows import reading_to_row
from iot_pipeline.storage.writer import write_batch

pytestmark = pytest.mark.integration


def readings_at(device: str, times: list[datetime]) -> list[tuple[object, ...]]:
    return [
        reading_to_row(
            {
                "device_id": device,
                "device_type": "temperature_sensor",
                "timestamp": t,
                "value": float(i),
                "unit": "°C",
                "battery_level": 100.0 - i,
            }
        )
        for i, t in enumerate(times)
    ]


def scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def test_old_chunks_move_to_the_archive_and_expire(
    migrated: MigrationReport, schema_engine: Engine
) -> None:
    now = datetime.now(UTC)
    old = [now - timedelta(days=d, hours=1) for d in (100, 45, 40)]
    recent = [now - timedelta(hours=h) for h in (1, 2, 3)]
    write_batch(schema_engine, readings_at("maint-1", old + recent))

    moved, boundary = archive_old_chunks(schema_engine, archive_after_days=30)
    assert moved == 3
    assert boundary is not None and boundary <= now - timedelta(days=30)
    assert scalar(schema_engine, "SELECT count(*) FROM sensor_readings") == 3
    assert scalar(schema_engine, "SELECT count(*) FROM sensor_readings_archive") == 3
    # Running it again moves nothing and loses nothing.
    assert archive_old_chunks(schema_engine, archive_after_days=30) == (0, None)

    assert apply_retention(schema_engine, retention_days=90) >= 1
    assert scalar(schema_engine, "SELECT count(*) FROM sensor_readings_archive") == 2
    assert scalar(schema_engine, "SELECT count(*) FROM sensor_readings") == 3


def test_maintenance_makes_aggregates_and_summary_current(
    migrated: MigrationReport, schema_engine: Engine
) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    times = [hour + timedelta(minutes=m) for m in (0, 10, 20)]
    write_batch(schema_engine, readings_at("maint-2", times))

    report = run_maintenance(schema_engine, migrated.edition, 30, 90)
    if migrated.edition is Edition.APACHE:
        assert report.refreshed == ("sensor_readings_hourly", "sensor_readings_daily")
    with schema_engine.connect() as conn:
        hourly = conn.execute(
            text(
                "SELECT reading_count, avg_value, min_value, max_value, first_battery_level, "
                "latest_battery_level FROM sensor_readings_hourly WHERE device_id = 'maint-2'"
            )
        ).one()
        summary = conn.execute(
            text(
                "SELECT reading_count, latest_value, last_seen FROM device_summary "
                "WHERE device_id = 'maint-2'"
            )
        ).one()
    assert tuple(hourly) == (3, 1.0, 0.0, 2.0, 100.0, 98.0)
    assert summary.reading_count == 3
    assert summary.latest_value == 2.0
    assert summary.last_seen == times[-1]
