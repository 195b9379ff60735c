"""The consumer loop against the real brokers: a step's on_assign offsets are where consumption
starts (the hook an archiver uses to resume from offsets it keeps next to its data), and the
loop commits the offsets of what it wrote."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from iot_pipeline.config import load_settings
from iot_pipeline.kafka.config import consumer_config, producer_config
from iot_pipeline.stream import Batch, ConsumerLoop, Rejection, SizeOrAge, StepBase

pytestmark = pytest.mark.integration

PER_PARTITION = 10
START_P0 = 7


class Recorder(StepBase[tuple[int, int]]):
    """Records (partition, offset) of what it writes; stops the loop once ``expected`` arrived."""

    def __init__(self, topic: str, expected: int, stop: threading.Event) -> None:
        self.topic, self.expected, self.stop = topic, expected, stop
        self.written: list[tuple[int, int]] = []

    def transform(self, message: Message, record: Mapping[str, Any]) -> tuple[int, int]:
        return (message.partition() or 0, message.offset() or 0)

    def write(self, batch: Batch[Message, tuple[int, int]]) -> list[Rejection]:
        self.written += batch.values
        if len(self.written) >= self.expected:
            self.stop.set()
        return []

    def on_assign(self, partitions: Sequence[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(self.topic, 0, START_P0)]


def test_on_assign_offsets_are_where_consumption_starts_and_commits_follow(
    kafka_bootstrap_servers: str, kafka_topic_factory: Any, consumer_group_factory: Any
) -> None:
    settings = load_settings(kafka_bootstrap_servers=kafka_bootstrap_servers)
    topic = kafka_topic_factory("stream-assign", partitions=2)
    producer = Producer(producer_config(settings, "stream-assign-test"))
    for partition in (0, 1):
        for n in range(PER_PARTITION):
            producer.produce(topic, value=str(n).encode(), partition=partition)
    assert producer.flush(30) == 0

    group = consumer_group_factory("stream-assign")
    stop = threading.Event()
    step = Recorder(topic, PER_PARTITION - START_P0 + PER_PARTITION, stop)
    consumer = Consumer(
        consumer_config(settings, group, "stream-assign-test", auto_offset_reset="earliest")
    )
    loop: ConsumerLoop[tuple[int, int]] = ConsumerLoop(
        consumer,
        lambda m: {"n": int(m.value() or b"0")},
        step,
        topics=[topic],
        policy=SizeOrAge(max_size=5, max_age=0.5),
    )
    timer = threading.Timer(60, stop.set)  # a failing test must not hang
    timer.start()
    try:
        loop.run(stop)
    finally:
        timer.cancel()

    assert sorted(o for p, o in step.written if p == 0) == list(range(START_P0, PER_PARTITION))
    assert sorted(o for p, o in step.written if p == 1) == list(range(PER_PARTITION))
    check = Consumer(consumer_config(settings, group, "stream-assign-check"))
    try:
        committed = check.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], 10)
    finally:
        check.close()
    assert [tp.offset for tp in committed] == [PER_PARTITION, PER_PARTITION]
