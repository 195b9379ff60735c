"""PostgreSQL itself stopped for 30 s during a stream: the sink loses nothing and catches up by
itself once the server is back (devstack stops and restarts the real server)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient

from devstack import proc
from devstack.config import REPO_ROOT, StackConfig
from devstack.services import all_services
from iot_pipeline.kafka.config import producer_config
from iot_pipeline.kafka.producer import AvroProducer
from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema
from tests.e2e.sink.harness import SinkEnv, SinkProcess, produce, readings, wait_for

pytestmark = pytest.mark.e2e

OUTAGE_S = 30


def serialized(env: SinkEnv, records: list[dict]) -> list[tuple[bytes, bytes]]:
    """(key, value) in wire format, made while the registry (stored in PostgreSQL) is up."""
    encoder = AvroProducer.create(
        env.settings,
        SchemaRegistryClient({"url": env.settings.schema_registry_url}),
        load_schema(READING_SCHEMA_FILE),
        env.topic,
        client_id="sink-e2e-outage-encoder",
    )
    return [(r["device_id"].encode(), encoder.serialize(r)) for r in records]


def test_postgres_stopped_for_30_s_loses_nothing(
    stack: StackConfig,
    sink_env: SinkEnv,
    start_sink: Callable[[dict[str, str]], SinkProcess],
) -> None:
    postgres = next(s for s in all_services(stack) if s.name == "postgres")
    during = serialized(sink_env, readings("e2e-pgstop-b", 2000))
    sink = start_sink(sink_env.env())
    produce(sink_env, readings("e2e-pgstop-a", 1000))
    wait_for(lambda: sink_env.count("e2e-pgstop") == 1000, 90, "readings before the outage")

    stopped_at = time.monotonic()
    try:
        proc.stop(postgres.pidfile(stack), sig=postgres.stop_signal, timeout_s=60)
        assert not proc.port_open(stack.postgres_port), "PostgreSQL still accepts connections"
        producer = Producer(producer_config(sink_env.settings, "sink-e2e-outage"))
        for key, value in during:
            producer.produce(sink_env.topic, value=value, key=key)
            producer.poll(0)
        assert producer.flush(60) == 0
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        assert sink.proc.poll() is None, "the sink must survive the outage"
        assert "database write failed" in sink.text()
    finally:
        up = subprocess.run(
            [sys.executable, "-m", "devstack", "up"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]

    wait_for(lambda: sink_env.count("e2e-pgstop") == 3000, 120, "catching up after the outage")
    assert "consumption resumed" in sink.text()
    assert sink.stop() == 0
    assert sink_env.distinct_keys() == 3000
