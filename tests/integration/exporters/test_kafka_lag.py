"""The lag exporter's broker poll against the real Kafka cluster."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from iot_pipeline.exporters.kafka_lag import BrokerPoller

pytestmark = pytest.mark.integration


def test_poll_reports_the_lag_of_a_group_without_members(
    kafka_bootstrap_servers: str,
    kafka_admin,
    kafka_topic_factory: Callable[..., str],
    consumer_group_factory: Callable[..., str],
) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition

    topic = kafka_topic_factory("lag", partitions=2)
    group = consumer_group_factory("lag-group")
    producer = Producer({"bootstrap.servers": kafka_bootstrap_servers, "acks": "all"})
    for i in range(30):
        producer.produce(topic, value=b"x", partition=i % 2)  # 15 per partition
    assert producer.flush(30) == 0
    # The group committed 10 on partition 0 and 15 (everything) on partition 1, then left.
    offsets = [TopicPartition(topic, 0, 10), TopicPartition(topic, 1, 15)]
    kafka_admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, offsets)])[
        group
    ].result()

    snapshot = BrokerPoller(
        {"bootstrap.servers": kafka_bootstrap_servers}, re.compile(re.escape(group)), 10
    ).poll()

    assert snapshot.ok
    lag = snapshot.groups[group]
    assert lag.members == 0
    assert lag.committed == {(topic, 0): 10, (topic, 1): 15}
    assert lag.lag == {(topic, 0): 5, (topic, 1): 0}
    assert snapshot.high_watermarks[(topic, 0)] == 15


def test_an_empty_group_outside_the_pattern_is_not_reported(
    kafka_bootstrap_servers: str,
    kafka_admin,
    kafka_topic_factory: Callable[..., str],
    consumer_group_factory: Callable[..., str],
) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    topic = kafka_topic_factory("lag", partitions=1)
    group = consumer_group_factory("lag-group")
    kafka_admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 0)])]
    )[group].result()
    snapshot = BrokerPoller(
        {"bootstrap.servers": kafka_bootstrap_servers}, re.compile("no-such-group"), 10
    ).poll()
    assert snapshot.ok
    assert group not in snapshot.groups


def _children(pid: int) -> list[int]:
    from pathlib import Path

    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _serves(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            return b"kafka_lag_exporter_up" in resp.read()
    except OSError:
        return False


def test_the_exporter_process_is_restarted_when_it_dies(kafka_bootstrap_servers: str) -> None:
    """librdkafka may abort the process while brokers restart: the supervisor starts it again."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    argv = ["--bootstrap-servers", kafka_bootstrap_servers, "--port", str(port)]
    supervisor = subprocess.Popen([sys.executable, "-m", "iot_pipeline.exporters.kafka_lag", *argv])
    try:

        def wait_for_worker(other_than: int | None) -> int:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                workers = [c for c in _children(supervisor.pid) if c != other_than]
                if workers and _serves(port):
                    return workers[0]
                time.sleep(0.3)
            raise AssertionError("no exporter worker serving /metrics")

        first = wait_for_worker(None)
        os.kill(first, signal.SIGKILL)
        second = wait_for_worker(first)
        assert second != first
    finally:
        supervisor.terminate()
        supervisor.wait(15)
    assert supervisor.returncode == 0
