"""Producing the adapter's records to Kafka, and producing again those Kafka failed, after a
backoff (the thin Kafka side: the sink does the I/O, the ledger learns of each confirmation)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from loguru import logger
from prometheus_client import CollectorRegistry, Counter

from iot_pipeline.adapter.ledger import PendingMessage
from iot_pipeline.kafka.dead_letter import Headers


class RecordSink(Protocol):
    """What the adapter needs of iot_pipeline.kafka.producer.AvroProducer."""

    topic: str

    def serialize(self, value: Mapping[str, Any]) -> bytes: ...

    def enqueue(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        on_delivery: Callable[[Any, Any], None],
        headers: Headers | None = None,
    ) -> None: ...

    def enqueue_batch(
        self,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes | None]],
        on_delivery: Callable[[Any, Any], None],
    ) -> list[tuple[int, Any]]: ...

    def poll(self, timeout: float = 0) -> int: ...

    def flush(self, timeout: float = 30.0) -> int: ...


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.failures = Counter(
            "mqtt_adapter_kafka_delivery_failures_total",
            "Kafka deliveries that failed and were retried.",
            registry=registry,
        )


@dataclass(slots=True)
class _Retry:
    due: float
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    pending: PendingMessage


class Delivery:
    """Sends each record with its message's delivery callback; a record that fails (in
    produce() or in Kafka's report) is produced again once ``retry_backoff_sec`` has passed."""

    def __init__(
        self,
        sink: RecordSink,
        metrics: DeliveryMetrics,
        clock: Callable[[], float],
        retry_backoff_sec: float,
    ) -> None:
        self._sink = sink
        self._metrics = metrics
        self._clock = clock
        self._retry_backoff_sec = retry_backoff_sec
        self._retries: deque[_Retry] = deque()
        self._last_failure_log = float("-inf")

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None,
        pending: PendingMessage,
    ) -> None:
        try:
            self._sink.enqueue(topic, key, value, pending.report, headers)
        except Exception as exc:  # e.g. KafkaException from produce(): retry like a failure
            self._failed(topic, key, value, headers, pending, exc)

    def send_batch(
        self,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes | None]],
        pending: PendingMessage,
    ) -> None:
        """Send a message's records (no headers) in one call; a record refused is retried."""
        try:
            refused = self._sink.enqueue_batch(topic, records, pending.report)
        except Exception as exc:  # nothing of the batch was enqueued: retry every record
            refused = [(i, exc) for i in range(len(records))]
        for i, error in refused:
            key, value = records[i]
            self._failed(topic, key, value, None, pending, error)

    def failed(self, pending: PendingMessage, error: Any, record: Any) -> None:
        """Kafka reported ``record`` (a confluent_kafka.Message) of ``pending`` failed."""
        self._failed(record.topic(), record.key(), record.value(), record.headers(), pending, error)

    def _failed(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None,
        pending: PendingMessage,
        error: object,
    ) -> None:
        self._metrics.failures.inc()
        now = self._clock()
        if now - self._last_failure_log >= 1.0:  # one line a second, not one per record
            self._last_failure_log = now
            logger.error("Kafka delivery to {} failed ({}); retrying", topic, error)
        due = self._clock() + self._retry_backoff_sec
        self._retries.append(_Retry(due, topic, key, value, headers, pending))

    def retry_failed(self) -> int:
        """Produce again the records whose delivery failed and whose backoff has passed."""
        now = self._clock()
        retried = 0
        while self._retries and self._retries[0].due <= now:
            item = self._retries.popleft()
            self.send(item.topic, item.key, item.value, item.headers, item.pending)
            retried += 1
        return retried

    @property
    def retries_waiting(self) -> int:
        return len(self._retries)
