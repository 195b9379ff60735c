"""End-to-end fixtures for the sink (helpers in tests/e2e/sink/harness.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from sqlalchemy import text

from iot_pipeline.config import load_settings
from iot_pipeline.kafka.config import admin_config
from iot_pipeline.kafka.topics import TopicSpec, ensure_topics
from iot_pipeline.storage.engine import create_db_engine
from iot_pipeline.storage.migrate import apply_migrations, default_migrations_dir
from tests.conftest import stack_postgres_password
from tests.e2e.processes import started_processes
from tests.e2e.sink.harness import SinkEnv, SinkProcess, TcpRelay


@pytest.fixture
def sink_env() -> Iterator[SinkEnv]:
    suffix = uuid.uuid4().hex[:10]
    schema = f"test_sink_{suffix}"
    settings = load_settings(postgres_password=stack_postgres_password())
    topic, dlq = f"test-sink-{suffix}", f"test-sink-{suffix}-dlq"
    admin = AdminClient(admin_config(settings))
    ensure_topics(
        admin,
        [TopicSpec(topic, 3, 3, {"min.insync.replicas": "2"}), TopicSpec(dlq, 1, 3, {})],
    )
    engine = create_db_engine(settings)
    # Migrated up front so the test can count rows at once; the sink's own run is then a no-op.
    schema_engine = create_db_engine(
        load_settings(postgres_password=stack_postgres_password(), postgres_schema=schema)
    )
    apply_migrations(schema_engine, default_migrations_dir(), schema)
    schema_engine.dispose()
    yield SinkEnv(schema, topic, dlq, f"test-sink-{suffix}", settings, engine)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
    for future in admin.delete_topics([topic, dlq]).values():
        future.result()


@pytest.fixture
def start_sink(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], SinkProcess]]:
    yield from started_processes(SinkProcess, tmp_path, "sink")


@pytest.fixture
def pg_relay(stack) -> Iterator[TcpRelay]:
    relay = TcpRelay(stack.postgres_port)
    relay.open()
    yield relay
    relay.cut()
