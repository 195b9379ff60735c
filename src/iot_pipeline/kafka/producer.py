"""A plain confluent_kafka.Producer with explicit Avro serialization and delivery accounting.

Values are serialized with AvroSerializer before produce() (the confluent-kafka maintainers advise
against SerializingProducer). Every record's outcome arrives in a delivery callback served by
poll(); callers pass their own callback when they must act on the outcome (the adapter
acknowledges MQTT messages there), and the metrics count every outcome either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from loguru import logger
from prometheus_client import CollectorRegistry, Counter, Histogram

from iot_pipeline.config import Settings
from iot_pipeline.kafka.config import producer_config
from iot_pipeline.kafka.dead_letter import Headers
from iot_pipeline.schemas.registry import ensure_value_schema, subject_name_strategy

DeliveryCallback = Callable[[KafkaError | None, Message], None]
KeyValue = tuple[bytes | None, bytes | None]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ProducerMetrics:
    """Outcomes of produced records, labelled by topic only (bounded)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.delivered = Counter(
            "kafka_producer_messages_delivered_total",
            "Records acknowledged by the brokers (acks=all).",
            ["topic"],
            registry=registry,
        )
        self.failed = Counter(
            "kafka_producer_delivery_failures_total",
            "Records the brokers did not acknowledge (after librdkafka's retries).",
            ["topic"],
            registry=registry,
        )
        self.latency = Histogram(
            "kafka_producer_delivery_latency_seconds",
            "Time from produce() to the broker acknowledgement.",
            ["topic"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.buffer_full = Counter(
            "kafka_producer_buffer_full_total",
            "produce() calls that found the local queue full and had to wait.",
            registry=registry,
        )
        self._children: dict[str, tuple[Any, Any, Any]] = {}

    def for_topic(self, topic: str) -> tuple[Any, Any, Any]:
        """(delivered, failed, latency) children for a topic; cached, as labels() is costly on a
        per-record path."""
        children = self._children.get(topic)
        if children is None:
            children = (
                self.delivered.labels(topic),
                self.failed.labels(topic),
                self.latency.labels(topic),
            )
            self._children[topic] = children
        return children


def make_avro_serializer(
    client: SchemaRegistryClient, schema_str: str, settings: Settings
) -> AvroSerializer:
    serializer: AvroSerializer = AvroSerializer(
        client,
        schema_str,
        conf={
            "auto.register.schemas": settings.schema_auto_register,
            "subject.name.strategy": subject_name_strategy(settings.schema_subject_strategy),
        },
    )
    return serializer


class AvroProducer:
    """Produces Avro values to one topic, raw bytes to any topic (dead letters)."""

    def __init__(
        self,
        producer: Producer,
        serializer: AvroSerializer,
        topic: str,
        metrics: ProducerMetrics | None = None,
    ) -> None:
        self._producer = producer
        self._serializer = serializer
        self.topic = topic
        self._metrics = metrics
        self._context = SerializationContext(topic, MessageField.VALUE)
        self._encode: Callable[[Mapping[str, Any]], bytes] = self.serialize

    @classmethod
    def create(
        cls,
        settings: Settings,
        registry_client: SchemaRegistryClient,
        schema_str: str,
        topic: str,
        client_id: str,
        metrics: ProducerMetrics | None = None,
        extra_config: Mapping[str, Any] | None = None,
    ) -> AvroProducer:
        """Build the producer; with SCHEMA_AUTO_REGISTER the subject's schema and compatibility
        level are set up front, so a schema the registry rejects stops the service at start."""
        if settings.schema_auto_register:
            ensure_value_schema(
                registry_client,
                topic,
                schema_str,
                settings.schema_compatibility_level,
                settings.schema_subject_strategy,
            )
        config = {**producer_config(settings, client_id), **(extra_config or {})}
        return cls(
            Producer(config),
            make_avro_serializer(registry_client, schema_str, settings),
            topic,
            metrics,
        )

    def serialize(self, value: Mapping[str, Any]) -> bytes:
        """The value in Confluent wire format, through the registry's AvroSerializer."""
        data = self._serializer(value, self._context)
        assert data is not None
        return data

    def use_encoder(self, encode: Callable[[Mapping[str, Any]], bytes]) -> None:
        """Encode values with `encode` instead of serialize() (a faster encoder that the caller
        verified writes the same bytes, e.g. schemas.reading_encoder.verified_encoder)."""
        self._encode = encode

    def produce(
        self,
        key: str,
        value: Mapping[str, Any],
        on_delivery: DeliveryCallback | None = None,
        headers: Headers | None = None,
    ) -> None:
        """Serialize and enqueue one record (raises on a value that does not fit the schema)."""
        self.produce_raw(self.topic, key.encode(), self._encode(value), on_delivery, headers)

    def produce_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        on_delivery: DeliveryCallback | None = None,
        headers: Headers | None = None,
    ) -> None:
        """Enqueue bytes as they are; waits (serving callbacks) while the local queue is full."""
        report: DeliveryCallback
        if on_delivery is None:
            report = self._report  # no closure per record on the common path
        else:

            def report(error: KafkaError | None, message: Message) -> None:
                self._report(error, message)
                on_delivery(error, message)

        self.enqueue(topic, key, value, report, headers)
        self._producer.poll(0)

    def _report(self, error: KafkaError | None, message: Message) -> None:
        """Count one record's outcome; its latency is librdkafka's, produce() to broker ack."""
        if self._metrics is not None:
            delivered, failed, latency = self._metrics.for_topic(message.topic() or "")
            if error is None:
                delivered.inc()
                seconds = message.latency()
                if seconds is not None:
                    latency.observe(seconds)
            else:
                failed.inc()
        if error is not None:
            logger.error("delivery to {} failed: {}", message.topic(), error)

    def enqueue(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        on_delivery: DeliveryCallback,
        headers: Headers | None = None,
    ) -> None:
        """Enqueue with the caller's callback as it is: no poll() and no delivery metrics (a
        full queue is still counted). For a caller that serves poll() itself and counts outcomes
        in ``on_delivery`` (the adapter: nine records per MQTT message); produce_raw() is built
        on it. Waits, serving callbacks, while the local queue is full."""
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=on_delivery
                )
                return
            except BufferError:
                # Back-pressure: the local queue is full until the brokers catch up.
                if self._metrics is not None:
                    self._metrics.buffer_full.inc()
                self._producer.poll(0.05)

    def enqueue_batch(
        self, topic: str, records: Sequence[KeyValue], on_delivery: DeliveryCallback
    ) -> list[tuple[int, KafkaError]]:
        """Enqueue records in one produce_batch() call (no headers), each reported to
        ``on_delivery`` like enqueue(); waits, serving callbacks, while the local queue is full.
        Returns the records librdkafka refused for another reason (index, error): nothing else of
        them happens, the caller retries them."""
        batch: list[dict[str, Any]] = [{"key": key, "value": value} for key, value in records]
        index = list(range(len(batch)))
        refused: list[tuple[int, KafkaError]] = []
        while batch:
            if self._producer.produce_batch(topic, batch, on_delivery=on_delivery) == len(batch):
                break
            again, again_index = [], []
            for position, item in zip(index, batch, strict=True):
                error = item.pop("_error", None)
                if error is None:
                    continue
                if error.code() == KafkaError._QUEUE_FULL:
                    again.append(item)
                    again_index.append(position)
                else:
                    refused.append((position, error))
            batch, index = again, again_index
            if batch:
                if self._metrics is not None:
                    self._metrics.buffer_full.inc()
                self._producer.poll(0.05)
        return refused

    def poll(self, timeout: float = 0) -> int:
        """Serve delivery callbacks."""
        return self._producer.poll(timeout)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for outstanding records; returns how many are still undelivered (0 = all done)."""
        remaining: int = self._producer.flush(timeout)
        if remaining:
            logger.error("{} records still undelivered after flush({}s)", remaining, timeout)
        return remaining

    def __len__(self) -> int:
        return len(self._producer)
