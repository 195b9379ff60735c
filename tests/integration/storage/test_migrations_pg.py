"""Migrations against the real PostgreSQL + TimescaleDB of the local stack."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text

from iot_pipeline.storage.migrate import (
    Edition,
    MigrationReport,
    apply_migrations,
    default_migrations_dir,
    plan_migrations,
    read_migration_files,
)
from iot_pipeline.storage.schema import metadata
from tests.conftest import stack_postgres_password

pytestmark = pytest.mark.integration


def server_edition(engine: Engine) -> Edition:
    with engine.connect() as conn:
        license_ = conn.execute(text("SHOW timescaledb.license")).scalar()
    return Edition.APACHE if license_ == "apache" else Edition.TIMESCALE


def test_first_run_applies_every_migration_for_the_servers_edition(
    migrated: MigrationReport, schema_engine: Engine, pg_schema: str
) -> None:
    edition = server_edition(schema_engine)
    plan = plan_migrations(read_migration_files(default_migrations_dir()), edition)
    assert migrated.edition is edition
    assert migrated.applied == tuple(m.version for m in plan)
    assert migrated.already_applied == ()
    with schema_engine.connect() as conn:
        rows = conn.execute(
            text("SELECT version, name, edition, checksum FROM schema_migrations ORDER BY 1")
        ).all()
    assert [(r.version, r.name, r.edition, r.checksum) for r in rows] == [
        (m.version, m.name, edition.value, m.checksum) for m in plan
    ]


def test_second_run_is_a_no_op(
    migrated: MigrationReport, schema_engine: Engine, pg_schema: str
) -> None:
    again = apply_migrations(schema_engine, default_migrations_dir(), pg_schema)
    assert again.applied == ()
    assert again.already_applied == migrated.applied
    with schema_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM schema_migrations")).scalar() == len(
            migrated.applied
        )


def test_hypertables_views_and_aggregates_exist(
    migrated: MigrationReport, schema_engine: Engine, pg_schema: str
) -> None:
    with schema_engine.connect() as conn:
        hypertables = conn.execute(
            text(
                "SELECT hypertable_name FROM timescaledb_information.hypertables "
                "WHERE hypertable_schema = :s ORDER BY 1"
            ),
            {"s": pg_schema},
        ).scalars()
        assert list(hypertables) == ["sensor_readings", "sensor_readings_archive"]
        interval = conn.execute(
            text(
                "SELECT time_interval FROM timescaledb_information.dimensions "
                "WHERE hypertable_schema = :s AND hypertable_name = 'sensor_readings'"
            ),
            {"s": pg_schema},
        ).scalar()
        assert interval.days == 1
        views = set(
            conn.execute(
                text("SELECT viewname FROM pg_views WHERE schemaname = :s"), {"s": pg_schema}
            ).scalars()
        )
        assert {"recent_sensor_readings", "anomalous_sensor_readings", "device_summary"} <= views
        indexes = set(
            conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE schemaname = :s"), {"s": pg_schema}
            ).scalars()
        )
        assert {
            "idx_sensor_readings_device_time",
            "idx_sensor_readings_type_time",
            "idx_sensor_readings_anomaly",
            "idx_sensor_readings_metadata",
        } <= indexes
        for aggregate in ("sensor_readings_hourly", "sensor_readings_daily"):
            columns = conn.execute(text(f"SELECT * FROM {aggregate} LIMIT 0")).keys()
            assert list(columns) == [
                "bucket",
                "device_id",
                "device_type",
                "reading_count",
                "avg_value",
                "min_value",
                "max_value",
                "anomaly_count",
                "first_battery_level",
                "latest_battery_level",
            ]


def test_sqlalchemy_model_matches_the_migrated_tables(
    migrated: MigrationReport, schema_engine: Engine, pg_schema: str
) -> None:
    inspector = inspect(schema_engine)
    for table in metadata.sorted_tables:
        db_columns = inspector.get_columns(table.name, schema=pg_schema)
        assert [c["name"] for c in db_columns] == [c.name for c in table.columns], table.name
        assert {c["name"]: c["nullable"] for c in db_columns} == {
            c.name: c.nullable for c in table.columns
        }, table.name


def test_command_line_applies_then_reports_up_to_date(
    monkeypatch: pytest.MonkeyPatch, pg_schema: str, schema_engine: Engine
) -> None:
    from iot_pipeline.storage.migrate import main

    monkeypatch.setenv("POSTGRES_PASSWORD", stack_postgres_password())
    monkeypatch.setenv("POSTGRES_SCHEMA", pg_schema + "_cli")
    try:
        assert main([]) == 0
        assert main([]) == 0
        with schema_engine.connect() as conn:
            count = conn.execute(text(f"SELECT count(*) FROM {pg_schema}_cli.schema_migrations"))
            assert count.scalar() == len(
                plan_migrations(read_migration_files(default_migrations_dir()), Edition.APACHE)
            )
        assert main(["--migrations-dir", "/nonexistent"]) == 2
        monkeypatch.setenv("POSTGRES_PORT", "1")
        assert main([]) == 1
    finally:
        with schema_engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {pg_schema}_cli CASCADE"))
