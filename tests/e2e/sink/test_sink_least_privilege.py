"""The sink as it runs in every deployment: as the least-privilege login iot_sink (migration
0007's iot_writer: INSERT/SELECT on the readings, no DDL) on a schema the owner migrated."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from devstack.config import StackConfig
from tests.e2e.sink.harness import SinkEnv, SinkProcess, produce, readings, wait_for

pytestmark = pytest.mark.e2e


def test_the_sink_stores_readings_as_iot_sink_without_running_ddl(
    sink_env: SinkEnv, start_sink: Callable[[dict[str, str]], SinkProcess], stack: StackConfig
) -> None:
    with sink_env.engine.connect() as conn:
        applied_before = conn.execute(
            text(f'SELECT count(*) FROM "{sink_env.schema}".schema_migrations')
        ).scalar_one()
    produce(sink_env, readings("least-priv", 500))
    sink = start_sink(
        sink_env.env(
            POSTGRES_USER="iot_sink",
            POSTGRES_PASSWORD=stack.secrets["postgres_iot_sink_password"],
        )
    )
    wait_for(lambda: sink_env.count("least-priv") == 500, 90, "500 readings stored by iot_sink")
    assert sink.stop() == 0
    log = sink.text()
    assert "connected as iot_sink (no DDL)" in log
    assert "applying migration" not in log
    with sink_env.engine.connect() as conn:
        applied_after = conn.execute(
            text(f'SELECT count(*) FROM "{sink_env.schema}".schema_migrations')
        ).scalar_one()
    assert applied_after == applied_before
