"""Fixtures for the firmware-to-database tests (helpers in tests/e2e/firmware/harness.py), and
those shared with the suites that own them: the host tools' build (tests/firmware), the adapter
and the sink as real processes (tests/e2e/...)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from iot_pipeline.config import load_settings
from iot_pipeline.storage.engine import create_db_engine
from tests.conftest import stack_postgres_password
from tests.e2e.adapter.conftest import start_adapter  # noqa: F401
from tests.e2e.adapter.harness import AdapterEnv, Publisher, free_port
from tests.e2e.firmware.harness import Pipeline
from tests.e2e.sink.conftest import start_sink  # noqa: F401
from tests.e2e.sink.harness import SinkEnv
from tests.firmware.conftest import firmware_tools  # noqa: F401


@pytest.fixture
def pipeline(
    stack,
    mqtt_port: int,
    kafka_topic_factory: Callable[..., str],
    consumer_group_factory: Callable[[str], str],
    pg_schema_factory: Callable[[str], str],
    unique_name: Callable[[str], str],
    schema_registry_client,
) -> Iterator[Pipeline]:
    readings = kafka_topic_factory("e2e-fw-readings")
    adapter_dlq = kafka_topic_factory("e2e-fw-adapter-dlq")
    sink_dlq = kafka_topic_factory("e2e-fw-sink-dlq")
    # The adapter's start-up admin step creates its alerts topic: make it here, so it is deleted.
    alerts = kafka_topic_factory("e2e-fw-alerts", config={"cleanup.policy": "compact"})
    prefix = unique_name("e2e-fw")
    settings = load_settings(postgres_password=stack_postgres_password())
    engine = create_db_engine(settings)
    run = Pipeline(
        adapter=AdapterEnv(
            settings=settings,
            topic=readings,
            dlq_topic=adapter_dlq,
            prefix=prefix,
            client_id=f"{prefix}-adapter",
            metrics_port=free_port(),
            mqtt_port=mqtt_port,
        ),
        sink=SinkEnv(
            schema=pg_schema_factory("e2e_fw"),
            topic=readings,
            dlq_topic=sink_dlq,
            group=consumer_group_factory("e2e-fw-sink"),
            settings=settings,
            engine=engine,
        ),
        gateway_id=unique_name("e2e-fw-gw"),
        alerts_topic=alerts,
    )
    yield run
    engine.dispose()
    # The emulator leaves its retained "offline" status: clear it for this throwaway gateway.
    cleaner = Publisher(mqtt_port)
    try:
        cleaner.client.publish(run.status_topic, b"", qos=1, retain=True).wait_for_publish(10)
    finally:
        cleaner.close()
    for permanent in (False, True):
        with contextlib.suppress(Exception):
            schema_registry_client.delete_subject(f"{readings}-value", permanent=permanent)
