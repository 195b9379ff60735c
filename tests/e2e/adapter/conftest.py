"""End-to-end fixtures for the RuuviTag adapter (helpers in tests/e2e/adapter/harness.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient

from iot_pipeline.config import load_settings
from iot_pipeline.kafka.config import admin_config
from iot_pipeline.kafka.topics import ensure_topics, pipeline_topics
from tests.e2e.adapter.harness import AdapterEnv, AdapterProcess, Publisher, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def adapter_env(stack, mqtt_port: int) -> Iterator[AdapterEnv]:
    suffix = uuid.uuid4().hex[:10]
    settings = load_settings()
    topic, dlq = f"test-adapter-{suffix}", f"test-adapter-{suffix}-dlq"
    admin = AdminClient(admin_config(settings))
    # Created up front exactly as the adapter's own admin step would create them.
    named = load_settings(
        kafka_topic_name=topic, kafka_dlq_topic_name=dlq, kafka_alerts_topic_name=f"{topic}-alerts"
    )
    ensure_topics(admin, pipeline_topics(named))
    yield AdapterEnv(
        settings=settings,
        topic=topic,
        dlq_topic=dlq,
        prefix=f"e2e-{suffix}",
        client_id=f"e2e-adapter-{suffix}",
        metrics_port=free_port(),
        mqtt_port=mqtt_port,
    )
    for future in admin.delete_topics([topic, dlq, f"{topic}-alerts"]).values():
        with contextlib.suppress(Exception):
            future.result()
    registry = SchemaRegistryClient({"url": settings.schema_registry_url})
    with contextlib.suppress(Exception):
        registry.delete_subject(f"{topic}-value", permanent=False)


@pytest.fixture
def start_adapter(tmp_path: Path) -> Iterator[Callable[..., AdapterProcess]]:
    started: list[AdapterProcess] = []

    def start(env: AdapterEnv, **overrides: str) -> AdapterProcess:
        process = AdapterProcess(env, tmp_path / f"adapter-{len(started)}.log", **overrides)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.alive():
            process.kill()


@pytest.fixture
def publisher_factory() -> Iterator[Callable[[int], Publisher]]:
    made: list[Publisher] = []

    def make(port: int) -> Publisher:
        publisher = Publisher(port)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        with contextlib.suppress(Exception):
            publisher.close()
