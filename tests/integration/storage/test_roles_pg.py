"""Least privilege on the real TimescaleDB: the read-only role reads but cannot insert or run DDL;
the sink's role inserts and reads the readings but cannot drop or alter tables (migration 0007's
group roles, the stack's login users with generated passwords)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg2
import pytest
from psycopg2 import errors

from devstack.config import StackConfig
from tests.conftest import role_dsn

pytestmark = pytest.mark.integration

INSERT = (
    'INSERT INTO sensor_readings (device_id, device_type, "timestamp", value, unit) '
    "VALUES ('roles-test', 'temperature_sensor', %s, 1.0, 'C')"
)


@pytest.fixture
def connect(stack: StackConfig) -> Iterator[object]:
    opened: list[psycopg2.extensions.connection] = []

    def open_as(user: str) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(role_dsn(stack, user))
        opened.append(conn)
        return conn

    yield open_as
    for conn in opened:
        conn.rollback()
        conn.close()


def denied(conn: psycopg2.extensions.connection, statement: str, *args: object) -> bool:
    """True when PostgreSQL refuses ``statement`` for lack of privilege (nothing is kept)."""
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args or None)
    except errors.InsufficientPrivilege:
        conn.rollback()
        return True
    conn.rollback()
    return False


def test_the_read_only_role_reads_but_cannot_insert_or_run_ddl(connect) -> None:  # type: ignore[no-untyped-def]
    conn = connect("iot_readonly")
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sensor_readings")
        cur.execute("SELECT count(*) FROM device_summary")
    conn.rollback()
    assert denied(conn, INSERT, datetime.now(UTC))
    assert denied(conn, "CREATE TABLE readonly_probe (x int)")
    assert denied(conn, "ALTER TABLE sensor_readings ADD COLUMN readonly_probe int")
    assert denied(conn, "DELETE FROM sensor_readings WHERE device_id = 'roles-test'")


def test_the_sink_role_writes_readings_but_cannot_drop_or_alter(connect) -> None:  # type: ignore[no-untyped-def]
    conn = connect("iot_sink")
    with conn.cursor() as cur:  # its job: insert and read back (rolled back, nothing kept)
        cur.execute(INSERT, (datetime.now(UTC),))
        cur.execute("SELECT count(*) FROM sensor_readings WHERE device_id = 'roles-test'")
        assert cur.fetchone()[0] >= 1
    conn.rollback()
    assert denied(conn, "DROP TABLE sensor_readings")
    assert denied(conn, "ALTER TABLE sensor_readings ADD COLUMN sink_probe int")
    assert denied(conn, "TRUNCATE sensor_readings")
    assert denied(conn, "DELETE FROM sensor_readings WHERE device_id = 'roles-test'")
    assert denied(conn, "CREATE TABLE sink_probe (x int)")


def test_the_monitoring_role_has_pg_monitor(connect) -> None:  # type: ignore[no-untyped-def]
    conn = connect("iot_monitoring")
    with conn.cursor() as cur:
        cur.execute("SELECT pg_has_role('pg_monitor', 'MEMBER')")
        assert cur.fetchone()[0] is True
    assert denied(conn, INSERT, datetime.now(UTC))


def test_the_sink_role_is_seen_as_a_writer_and_the_owner_as_the_owner(stack: StackConfig) -> None:
    """What the sink decides from (iot_pipeline.storage.access): iot_sink may write but never
    migrates; the owner migrates; an unmigrated schema keeps iot_sink waiting."""
    from sqlalchemy import create_engine

    from iot_pipeline.storage.access import check_access, writer_wait_reason
    from iot_pipeline.storage.engine import connect_args

    sink = create_engine(
        role_dsn(stack, "iot_sink").replace("postgresql://", "postgresql+psycopg2://")
    )
    owner = create_engine(stack.postgres_dsn.replace("postgresql://", "postgresql+psycopg2://"))
    unmigrated = create_engine(
        role_dsn(stack, "iot_sink").replace("postgresql://", "postgresql+psycopg2://"),
        connect_args=connect_args("roles_test_never_migrated"),
    )
    try:
        as_sink = check_access(sink)
        assert (as_sink.role, as_sink.owner, as_sink.writable) == ("iot_sink", False, True)
        assert writer_wait_reason(as_sink) is None
        assert check_access(owner).owner
        waiting = check_access(unmigrated, "roles_test_never_migrated")
        assert not waiting.owner and not waiting.writable
        assert writer_wait_reason(waiting) is not None
    finally:
        for engine in (sink, owner, unmigrated):
            engine.dispose()
