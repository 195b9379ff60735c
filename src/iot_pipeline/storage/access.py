"""What the connected database role may do with the schema: the sink migrates and maintains the
schema only when its role owns it; a least-privilege writer (``iot_writer``, migration 0007)
waits for the owner's migrations instead and leaves maintenance to the owner.

The owner's side: ``python -m iot_pipeline.storage.migrate`` (the native stack's ``make up``,
compose's and Kubernetes' migration jobs) and ``python -m iot_pipeline.storage.maintenance``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

READINGS_TABLE = "sensor_readings"


@dataclass(frozen=True)
class SchemaAccess:
    """``owner``: may create objects (run migrations and maintenance). ``writable``: the readings
    table exists and this role may insert into it."""

    role: str
    owner: bool
    writable: bool


def schema_access(conn: Connection, schema: str | None = None) -> SchemaAccess:
    """The connected role's rights on ``schema`` (POSTGRES_SCHEMA; None: the current schema).
    The table is looked up in that schema only, never elsewhere on the search_path."""
    row = conn.execute(
        text(
            "WITH t AS (SELECT to_regclass(quote_ident(coalesce(:schema, current_schema())) "
            "  || '.' || :table) AS oid) "
            "SELECT current_user AS role, "
            "has_database_privilege(current_database(), 'CREATE') AS may_create, "
            "t.oid IS NOT NULL AND has_table_privilege(t.oid, 'INSERT') AS writable FROM t"
        ),
        {"schema": schema, "table": READINGS_TABLE},
    ).one()
    return SchemaAccess(role=row.role, owner=bool(row.may_create), writable=bool(row.writable))


def check_access(engine: Engine, schema: str | None = None) -> SchemaAccess:
    with engine.connect() as conn:
        return schema_access(conn, schema)


def writer_wait_reason(access: SchemaAccess) -> str | None:
    """Why a role that may not migrate cannot write yet (None: it can)."""
    if access.owner or access.writable:
        return None
    return (
        f"role {access.role} may not create tables and {READINGS_TABLE} is missing or not "
        "writable for it: waiting for the owner's migrations (python -m "
        "iot_pipeline.storage.migrate) to create it and grant iot_writer"
    )
