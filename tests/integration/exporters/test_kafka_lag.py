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

    snapshot = BrokerPoller(kafka_bootstrap_servers, re.compile(re.escape(group)), 10).poll()

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
    snapshot = BrokerPoller(kafka_bootstrap_servers, re.compile("no-such-group"), 10).poll()
    assert snapshot.ok
    assert group not in snapshot.groups
