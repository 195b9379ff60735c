"""Delivering alert events to the alerts topic (acks=all, idempotent producer) and logging them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from loguru import logger
from prometheus_client import CollectorRegistry

from iot_pipeline.alerts.codec import ALERT_SCHEMA_FILE, event_to_record
from iot_pipeline.alerts.metrics import AlertMetrics
from iot_pipeline.alerts.model import AlertEvent
from iot_pipeline.config import Settings
from iot_pipeline.kafka.producer import AvroProducer, ProducerMetrics
from iot_pipeline.retry import Backoff
from iot_pipeline.schemas import load_schema
from iot_pipeline.stream import Abandon

SERVICE_NAME = "alert-consumer"


class EventPublisher:
    def __init__(
        self, producer: AvroProducer, metrics: AlertMetrics, stopping: Callable[[], bool]
    ) -> None:
        self._producer = producer
        self._metrics = metrics
        self._stopping = stopping

    def publish(self, events: Sequence[AlertEvent]) -> list[AlertEvent]:
        """Produce the events and wait for Kafka's answers; returns those it refused. Raises
        :class:`~iot_pipeline.stream.Abandon` when asked to stop while Kafka does not answer."""
        failed: list[AlertEvent] = []
        delivered: list[AlertEvent] = []
        for event in events:
            report = _delivery_report(event, delivered, failed)
            try:
                self._producer.produce(event.key, event_to_record(event), on_delivery=report)
            except (ValueError, TypeError, KafkaException) as exc:
                self._metrics.errors.labels("serialization").inc()
                logger.error("alert event cannot be produced ({}): {}", exc, event)
        while self._producer.flush(5) > 0:
            if self._stopping():
                raise Abandon("alerts topic unreachable")
        for event in delivered:
            self._metrics.delivered(event)
            log_alert(event)
        return failed

    def flush(self, timeout: float) -> None:
        self._producer.flush(timeout)


def _delivery_report(
    event: AlertEvent, delivered: list[AlertEvent], failed: list[AlertEvent]
) -> Callable[[KafkaError | None, Message], None]:
    def report(error: KafkaError | None, _message: Message) -> None:
        (failed if error is not None else delivered).append(event)

    return report


def log_alert(event: AlertEvent) -> None:
    """One structured line per delivered alert event (fields in JSON mode via ``extra``)."""
    record = event_to_record(event)
    fields = {k: v for k, v in record.items() if k not in {"first_seen", "event_time"}}
    fields["first_seen_ms"] = event.first_seen_ms
    fields["event_time_ms"] = event.event_time_ms
    level = "WARNING" if event.event_type.value == "fired" else "INFO"
    logger.bind(alert=fields).log(
        level,
        "alert {} {} {} device={} value={} threshold={} id={}: {}",
        event.event_type.value,
        event.rule.value,
        event.severity.value,
        event.device_id,
        event.value,
        event.threshold,
        event.alert_id,
        event.message,
    )


def create_publisher(
    settings: Settings,
    client: SchemaRegistryClient,
    registry: CollectorRegistry,
    stop: threading.Event,
    backoff: Backoff,
) -> AvroProducer | None:
    """The alert producer, once the registry has the AlertEvent schema; waits while the
    registry is unreachable. A schema the registry rejects (4xx) is fatal: it raises."""
    metrics = ProducerMetrics(registry)
    attempt = 0
    while not stop.is_set():
        try:
            return AvroProducer.create(
                settings,
                client,
                load_schema(ALERT_SCHEMA_FILE),
                settings.kafka_alerts_topic_name,
                SERVICE_NAME,
                metrics,
            )
        except SchemaRegistryError as exc:
            status = exc.http_status_code
            if isinstance(status, int) and 400 <= status < 500:
                raise
            error: Exception = exc
        except Exception as exc:  # unreachable registry: connection refused, timeouts
            error = exc
        attempt += 1
        delay = backoff.delay(attempt)
        logger.warning("schema registry not ready ({}); retry in {:.1f}s", error, delay)
        stop.wait(delay)
    return None
