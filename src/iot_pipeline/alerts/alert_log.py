"""The alerts topic read back (no consumer group, never commits) to rebuild open alerts.

Events are keyed ``<device_id>|<rule>``, so the last event per key says whether that alert is
open; with ``cleanup.policy=compact`` the topic stays one record per (device, rule). It is what
subscribers saw, so it cannot disagree with them, and it needs no extra store.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from loguru import logger

from iot_pipeline.alerts.codec import event_from_record
from iot_pipeline.alerts.model import AlertEvent
from iot_pipeline.stream import Decoder


class AlertLog:
    """Reads the alerts topic back (no consumer group, never commits) to rebuild open alerts.

    Keeps its position between calls, so each catch-up reads only what is new.
    """

    def __init__(self, consumer: Consumer, decode: Decoder, topic: str, timeout: float) -> None:
        self._consumer = consumer
        self._decode = decode
        self._topic = topic
        self._timeout = timeout
        self._assigned: set[int] = set()

    def catch_up(self, apply: Callable[[AlertEvent], None]) -> int:
        """Apply every event up to the topic's current end; returns how many were applied."""
        metadata = self._consumer.list_topics(self._topic, timeout=10)
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None or not topic.partitions:
            return 0  # no alerts topic yet: nothing was ever alerted
        new = sorted(set(topic.partitions) - self._assigned)
        if new:
            self._consumer.incremental_assign(
                [TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in new]
            )
            self._assigned.update(new)
        ends: dict[int, tuple[int, int]] = {}
        for p in sorted(self._assigned):
            ends[p] = self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, p), timeout=10, cached=False
            )
        applied = 0
        deadline = time.monotonic() + self._timeout
        while not self._done(ends):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {self._topic} to its end in {self._timeout}s")
            for message in self._consumer.consume(num_messages=1000, timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        logger.warning("alerts log: {}", error)
                    continue
                try:
                    record = self._decode(message)
                    if record is None:
                        continue
                    event = event_from_record(record)
                except Exception as exc:
                    logger.warning(
                        "alerts log: skipping unreadable event at {}[{}]@{}: {}",
                        message.topic(),
                        message.partition(),
                        message.offset(),
                        exc,
                    )
                    continue
                apply(event)
                applied += 1
        return applied

    def _done(self, ends: dict[int, tuple[int, int]]) -> bool:
        positions = self._consumer.position([TopicPartition(self._topic, p) for p in sorted(ends)])
        for tp in positions:
            low, high = ends[tp.partition]
            if high > low and tp.offset < high:
                return False
        return True

    def close(self) -> None:
        self._consumer.close()
