"""SQLAlchemy model of the tables the migrations in ``database/migrations`` create.

The migrations are the source of truth for DDL (hypertables, policies and aggregates are beyond
SQLAlchemy's DDL); this model is for typed queries and for the writer's column list. A test
compares it with the migrated database.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()


def _reading_columns() -> list[Column[object]]:
    return [
        Column("id", BigInteger, nullable=False),
        Column("device_id", Text, nullable=False),
        Column("device_type", Text, nullable=False),
        Column("timestamp", DateTime(timezone=True), nullable=False),
        Column("value", Double),
        Column("unit", Text, nullable=False),
        Column("latitude", Double),
        Column("longitude", Double),
        Column("location_building", Text),
        Column("location_floor", Integer),
        Column("location_zone", Text),
        Column("battery_level", Double),
        Column("signal_strength", Double),
        Column("firmware_version", Text),
        Column("is_anomaly", Boolean, nullable=False),
        Column("device_metadata", JSONB),
        Column("tags", ARRAY(Text)),
        Column("tag_mac", Text),
        Column("gateway_id", Text),
        Column("rssi", Integer),
        Column("measurement_sequence", Integer),
        Column("created_at", DateTime(timezone=True), nullable=False),
    ]


sensor_readings = Table("sensor_readings", metadata, *_reading_columns())
sensor_readings_archive = Table("sensor_readings_archive", metadata, *_reading_columns())

# What the writer supplies; id and created_at come from the column defaults.
WRITE_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in sensor_readings.columns if c.name not in ("id", "created_at")
)
CONFLICT_KEY: tuple[str, str] = ("device_id", "timestamp")
