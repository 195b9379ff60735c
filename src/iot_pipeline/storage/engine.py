"""SQLAlchemy 2 engine for TimescaleDB (psycopg2 driver) with a bounded, self-healing pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, make_url

from iot_pipeline.config import Settings


def connect_args(schema: str | None) -> dict[str, Any]:
    """libpq options: fail fast when the server is down; with a schema, put it first on the
    search_path (public stays, for TimescaleDB's functions)."""
    args: dict[str, Any] = {"connect_timeout": 5, "application_name": "iot_pipeline"}
    if schema:
        args["options"] = f"-c search_path={schema},public"
    return args


def tls_args(sslmode: str, sslrootcert: str | Path | None) -> dict[str, Any]:
    """libpq's TLS options (POSTGRES_SSLMODE, POSTGRES_SSLROOTCERT): e.g. verify-full checks the
    server's certificate against ``sslrootcert`` and its name against the host connected to."""
    args: dict[str, Any] = {"sslmode": sslmode}
    if sslrootcert:
        args["sslrootcert"] = str(sslrootcert)
    return args


def create_engine_for_url(
    url: str | URL,
    pool_size: int = 5,
    max_overflow: int = 10,
    schema: str | None = None,
    tls: dict[str, Any] | None = None,
) -> Engine:
    """An engine whose pooled connections are checked before use (pool_pre_ping), so a restart of
    PostgreSQL costs one failed attempt, not a pool of dead connections."""
    return create_engine(
        make_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={**connect_args(schema), **(tls or {})},
    )


def create_db_engine(settings: Settings) -> Engine:
    """The engine for the POSTGRES_* settings (raises SettingsError without a password)."""
    return create_engine_for_url(
        settings.postgres_url(),
        pool_size=settings.postgres_pool_size,
        max_overflow=settings.postgres_max_overflow,
        schema=settings.postgres_schema,
        tls=tls_args(settings.postgres_sslmode, settings.postgres_sslrootcert),
    )
