"""A fresh, uniquely named schema in the local stack's PostgreSQL per test module, migrated."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from iot_pipeline.config import Settings, load_settings
from iot_pipeline.storage.engine import create_db_engine
from iot_pipeline.storage.migrate import MigrationReport, apply_migrations, default_migrations_dir
from tests.conftest import stack_postgres_password


def stack_settings(schema: str | None = None) -> Settings:
    """Settings for the local stack (`make up`), with its default password unless overridden."""
    return load_settings(postgres_password=stack_postgres_password(), postgres_schema=schema)


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(stack_settings())
    yield name
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def schema_engine(pg_schema: str) -> Iterator[Engine]:
    engine = create_db_engine(stack_settings(pg_schema))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def migrated(schema_engine: Engine, pg_schema: str) -> MigrationReport:
    return apply_migrations(schema_engine, default_migrations_dir(), pg_schema)
