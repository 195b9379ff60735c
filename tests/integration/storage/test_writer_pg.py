"""The batch writer against the real PostgreSQL + TimescaleDB."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg2 import errors as pg_errors
from sqlalchemy import Engine, text

from iot_pipeline.storage.migrate import MigrationReport
from iot_pipeline.storage.rows import Row, reading_to_row
from iot_pipeline.storage.schema import WRITE_COLUMNS
from iot_pipeline.storage.writer import (
    WriteMethod,
    is_data_error,
    write_batch,
    write_rows_one_by_one,
)

pytestmark = pytest.mark.integration

BASE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def reading(device: str, i: int, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "device_id": device,
        "device_type": "temperature_sensor",
        "timestamp": BASE + timedelta(seconds=i),
        "value": 20.0 + i / 10,
        "unit": "°C",
        "battery_level": 90.0,
        "metadata": {"room": "lab\ttab", "quote": 'a"b\\c'},
        "location": {"latitude": 60.1, "longitude": 24.9, "building": "B", "floor": -1},
        "tag_mac": "AA:BB:CC:DD:EE:FF",
        "gateway_id": "gw-1",
        "rssi": -70,
        "measurement_sequence": i,
        "is_anomaly": i % 7 == 0,
    }
    record.update(changes)
    return record


def rows_for(device: str, n: int) -> list[Row]:
    return [reading_to_row(reading(device, i)) for i in range(n)]


def count(engine: Engine, device: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM sensor_readings WHERE device_id = :d"), {"d": device}
        ).scalar_one()


@pytest.mark.parametrize("method", list(WriteMethod))
def test_batch_is_written_once_and_replays_are_skipped(
    migrated: MigrationReport, schema_engine: Engine, method: WriteMethod
) -> None:
    device = f"writer-{method.value}"
    rows = rows_for(device, 200)
    assert write_batch(schema_engine, rows, method) == 200
    assert write_batch(schema_engine, rows, method) == 0
    # A batch overlapping the stored rows, with a duplicate inside itself, adds only the new ones.
    overlapping = rows_for(device, 250)[150:] + rows_for(device, 250)[240:]
    assert write_batch(schema_engine, overlapping, method) == 50
    assert count(schema_engine, device) == 250


@pytest.mark.parametrize("method", list(WriteMethod))
def test_values_round_trip_exactly(
    migrated: MigrationReport, schema_engine: Engine, method: WriteMethod
) -> None:
    device = f"roundtrip-{method.value}"
    row = reading_to_row(
        reading(device, 1, value=math.nan, signal_strength=-0.1 - 0.2, firmware_version="x\ny")
    )
    write_batch(schema_engine, [row], method)
    with schema_engine.connect() as conn:
        stored = conn.execute(
            text(
                f"SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in WRITE_COLUMNS)}, created_at "
                "FROM sensor_readings WHERE device_id = :d"
            ),
            {"d": device},
        ).one()
    as_dict = dict(zip(WRITE_COLUMNS, stored[:-1], strict=True))
    expected = dict(zip(WRITE_COLUMNS, row, strict=True))
    assert math.isnan(as_dict.pop("value")) and math.isnan(expected.pop("value"))
    assert as_dict == expected
    assert stored.created_at > BASE


def test_a_failing_batch_stores_nothing_and_is_a_data_error(
    migrated: MigrationReport, schema_engine: Engine
) -> None:
    device = "poison-batch"
    rows = rows_for(device, 5)
    unit = WRITE_COLUMNS.index("unit")
    poisoned = list(rows)
    poisoned[2] = (*rows[2][:unit], None, *rows[2][unit + 1 :])  # NOT NULL violation
    with pytest.raises(pg_errors.NotNullViolation) as info:
        write_batch(schema_engine, poisoned)
    assert is_data_error(info.value)
    assert count(schema_engine, device) == 0

    results = write_rows_one_by_one(schema_engine, poisoned)
    assert [r is None for r in results] == [True, True, False, True, True]
    assert count(schema_engine, device) == 4


def test_connection_errors_are_not_data_errors() -> None:
    from sqlalchemy import create_engine

    engine = create_engine(
        "postgresql+psycopg2://iot_user:x@127.0.0.1:1/iot_data", connect_args={"connect_timeout": 1}
    )
    with pytest.raises(Exception) as info:
        write_batch(engine, rows_for("nowhere", 1))
    assert not is_data_error(info.value)
