"""The topic admin step against the real brokers: idempotent, and loud about drift."""

from __future__ import annotations

import time
from typing import Any

import pytest

from iot_pipeline.kafka.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.integration


def _topic(admin: Any, name: str, timeout: float = 30.0) -> Any:
    """The topic's metadata as some broker sees it. Brokers learn of a new topic a moment apart
    (KRaft metadata propagates asynchronously), so one that has not yet may answer 'unknown'."""
    deadline = time.monotonic() + timeout
    while True:
        topic = admin.list_topics(name, timeout=10).topics[name]
        if (topic.error is None and topic.partitions) or time.monotonic() > deadline:
            return topic
        time.sleep(0.2)


def test_creates_missing_topics_once_and_reports_drift(kafka_admin, unique_name):
    name = unique_name("admin")
    spec = TopicSpec(name, 6, 3, {"min.insync.replicas": "2", "retention.ms": "604800000"})
    try:
        assert ensure_topics(kafka_admin, [spec]) == []
        assert ensure_topics(kafka_admin, [spec]) == []  # second run: nothing to do
        topic = _topic(kafka_admin, name)
        assert len(topic.partitions) == 6
        assert all(len(p.replicas) == 3 for p in topic.partitions.values())

        wanted = TopicSpec(name, 12, 3, {"min.insync.replicas": "2", "retention.ms": "1000"})
        assert ensure_topics(kafka_admin, [wanted]) == [
            f"{name}: 6 partitions, expected 12",
            f"{name}: retention.ms=604800000, expected 1000",
        ]
        # It reports; it does not change an existing topic behind the operator's back.
        assert len(_topic(kafka_admin, name).partitions) == 6
    finally:
        kafka_admin.delete_topics([name])[name].result(30)
