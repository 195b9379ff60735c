"""The lake's SQL catalog in the stack's real PostgreSQL (LAKE_CATALOG_URI), instead of SQLite:
table creation, appends with offsets, and the optimistic concurrency the exactly-once bookkeeping
relies on (a commit on a stale table handle fails and is redone on fresh offsets)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from iot_pipeline.config import Settings, load_settings
from iot_pipeline.lake.catalog import open_catalog, open_table
from iot_pipeline.lake.records import to_batch
from iot_pipeline.lake.writer import LakeWriter
from tests.conftest import stack_postgres_password
from tests.unit.lake.conftest import reading

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_lake(tmp_path: Path) -> Iterator[Settings]:
    """A catalog in a fresh PostgreSQL schema (search_path), a warehouse in a temp folder."""
    schema = f"test_lake_{uuid.uuid4().hex[:10]}"
    password = stack_postgres_password()
    base = load_settings(postgres_password=password)
    url = (
        f"postgresql+psycopg2://{base.postgres_user}:{quote(password)}@{base.postgres_host}:"
        f"{base.postgres_port}/{base.postgres_db}"
    )
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield load_settings(
        lake_dir=tmp_path / "lake",
        lake_catalog_uri=f"{url}?options=-csearch_path%3D{schema}",
        lake_table="iot.sensor_readings",
    )
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def test_the_catalog_lives_in_postgresql(pg_lake: Settings) -> None:
    table = open_table(open_catalog(pg_lake), pg_lake)
    writer = LakeWriter(table, "t", "g")
    batch = to_batch([reading(0), reading(1)], writer.arrow_schema())
    writer.commit({0: [batch]}, ours={0: 2}, believed={0: None})
    assert not (pg_lake.lake_dir / "catalog.db").exists()
    schema = pg_lake.lake_catalog_uri.rsplit("%3D", 1)[1]  # type: ignore[union-attr]
    engine = create_engine(pg_lake.lake_catalog_uri.split("?")[0])  # type: ignore[union-attr]
    with engine.connect() as conn:
        location = conn.execute(
            text(
                f'SELECT metadata_location FROM "{schema}".iceberg_tables '
                "WHERE table_namespace = 'iot' AND table_name = 'sensor_readings'"
            )
        ).scalar_one()
    engine.dispose()
    reopened = open_table(open_catalog(pg_lake), pg_lake)
    assert reopened.metadata_location == location
    assert LakeWriter(reopened, "t", "g").table_offsets() == {0: 2}
    assert reopened.scan().to_arrow().num_rows == 2


def test_a_commit_on_a_stale_handle_is_redone_on_fresh_offsets(
    pg_lake: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = LakeWriter(open_table(open_catalog(pg_lake), pg_lake), "t", "g")
    b = LakeWriter(open_table(open_catalog(pg_lake), pg_lake), "t", "g")
    real_append = b.table.append
    raced: list[int] = []

    def append_after_a(*args: object, **kwargs: object) -> None:
        if not raced:
            raced.append(1)
            a.commit({1: [to_batch([reading(5)], a.arrow_schema())]}, {1: 30}, {1: None})
        real_append(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(b.table, "append", append_after_a)
    b.commit({0: [to_batch([reading(0)], b.arrow_schema())]}, {0: 4}, {0: None})
    assert b.table_offsets() == {0: 4, 1: 30}
    assert b.table.scan().to_arrow().num_rows == 2
