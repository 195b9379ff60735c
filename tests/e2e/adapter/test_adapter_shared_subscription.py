"""Several adapter processes split the load through an MQTT 5 shared subscription
(``$share/<group>/<filter>``): each message goes to one of them, and together they publish every
reading exactly once."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from tests.e2e.adapter.harness import free_port, keys_of, read_records, temperature_only

pytestmark = pytest.mark.e2e

MESSAGES = 2000


def test_two_adapters_on_a_shared_subscription_split_the_load_and_lose_nothing(
    adapter_env, start_adapter, publisher_factory
) -> None:
    group = f"adapters-{uuid.uuid4().hex[:6]}"
    shared_filter = f"$share/{group}/{adapter_env.data_topic}"
    envs = [
        dataclasses.replace(
            adapter_env, client_id=f"{adapter_env.client_id}-{n}", metrics_port=free_port()
        )
        for n in (1, 2)
    ]
    adapters = [start_adapter(env, ADAPTER_MQTT_TOPICS=shared_filter) for env in envs]
    for adapter in adapters:
        adapter.wait_connected()

    tag = "C0:FF:EE:00:50:01"
    publisher = publisher_factory(adapter_env.mqtt_port)
    for seq in range(MESSAGES):
        publisher.publish(adapter_env.data_topic, temperature_only(tag, seq))
    publisher.wait_all()

    expected = {(f"{tag.lower()}_temperature", seq) for seq in range(MESSAGES)}
    records = read_records(
        adapter_env.settings,
        adapter_env.topic,
        MESSAGES,
        timeout=180,
        done=lambda found: keys_of(found) >= expected,
    )
    assert keys_of(records) == expected
    assert len(records) == MESSAGES  # each message went to one adapter only

    received = [a.metrics().get("mqtt_adapter_messages_received_total", 0.0) for a in adapters]
    assert sum(received) == MESSAGES, received
    assert min(received) > 0, f"one adapter got nothing: {received}"
    for adapter in adapters:
        assert adapter.stop() == 0
