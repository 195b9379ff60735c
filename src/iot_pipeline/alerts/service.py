"""The alert consumer: readings -> rules engine -> alert events, a thin loop on confluent-kafka.

Guarantees:
- a consumer group on the readings topic (cooperative-sticky), so instances share partitions;
- input offsets are committed only after every alert event the batch caused was delivered
  (acks=all, idempotent producer); a crash re-delivers readings, never loses an alert;
- silence is evaluated on a timer, without new data;
- open alerts survive a restart or a rebalance: the alerts topic itself is the state. Events are
  keyed ``<device_id>|<rule>``, so the last event per key says whether that alert is open; at
  start and on every partition assignment the consumer reads the topic up to its end and
  rebuilds the open alerts from it (see :class:`AlertLog`). It is what subscribers saw, so it
  cannot disagree with them, it needs no extra store, and with ``cleanup.policy=compact`` the
  topic stays one record per (device, rule). Readings re-delivered after a crash are not
  re-alerted: the engine ignores readings older than what the log already records.
- a bad message is counted and logged, never fatal (the TimescaleDB sink dead-letters it).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, Protocol

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from loguru import logger
from prometheus_client import CollectorRegistry

from iot_pipeline.alerts.codec import ALERT_SCHEMA_FILE, event_from_record, event_to_record
from iot_pipeline.alerts.config import RulesConfig
from iot_pipeline.alerts.engine import AlertEngine
from iot_pipeline.alerts.metrics import AlertMetrics
from iot_pipeline.alerts.model import AlertEvent, InvalidReading, reading_from_record
from iot_pipeline.config import Settings, load_settings_or_exit
from iot_pipeline.kafka.config import consumer_config
from iot_pipeline.kafka.consumer import (
    FramedAvroDecoder,
    is_transient_decode_error,
    offsets_to_commit,
)
from iot_pipeline.kafka.producer import AvroProducer, ProducerMetrics
from iot_pipeline.observability.logging import configure_logging
from iot_pipeline.observability.metrics import serve_metrics
from iot_pipeline.retry import Backoff
from iot_pipeline.schemas import load_schema

SERVICE_NAME = "alert-consumer"
LAG_INTERVAL = 10.0


def rules_config_from_settings(settings: Settings) -> RulesConfig:
    """The rules engine's configuration from the ALERTS_* settings (pure)."""
    base = RulesConfig(
        clear_after=settings.alerts_clear_after,
        rate_window_ms=round(settings.alerts_rate_window * 1000),
        rate_min_span_ms=round(settings.alerts_rate_window * 500),
        silence_timeout_ms=round(settings.alerts_silence_timeout * 1000),
        zscore_window=settings.alerts_zscore_window,
        zscore_warmup=settings.alerts_zscore_warmup,
        zscore_fire=settings.alerts_zscore_threshold,
        zscore_clear=settings.alerts_zscore_clear,
        lost_window=settings.alerts_lost_packets_window,
        lost_min_expected=min(20, settings.alerts_lost_packets_window),
        lost_fire_rate=settings.alerts_lost_packets_rate,
        lost_clear_rate=settings.alerts_lost_packets_clear_rate,
    )
    return base.with_kind_overrides(settings.alerts_rule_overrides)


class Decoder(Protocol):
    def __call__(self, message: Message) -> dict[str, Any] | None: ...


class Undelivered(Exception):
    """Alert events could not be delivered before a stop: their readings stay uncommitted."""


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
                if message.error() is not None:
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        logger.warning("alerts log: {}", message.error())
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


class AlertService:
    def __init__(
        self,
        consumer: Consumer,
        decode: Decoder,
        publisher: AvroProducer,
        log: AlertLog,
        engine: AlertEngine,
        metrics: AlertMetrics,
        *,
        topic: str,
        batch_size: int,
        tick_interval: float,
        backoff: Backoff | None = None,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._decode = decode
        self._publisher = publisher
        self._log = log
        self._engine = engine
        self._metrics = metrics
        self._topic = topic
        self._batch_size = batch_size
        self._tick_interval = tick_interval
        self._backoff = backoff or Backoff(maximum=10.0)
        self._wall = wall_clock
        self._clock = clock
        self._stop = threading.Event()
        self._devices_by_partition: dict[tuple[str, int], set[str]] = {}

    def _now_ms(self) -> int:
        return int(self._wall() * 1000)

    # --- restoring and rebalancing ------------------------------------------------------------
    def restore(self) -> None:
        """Read the alerts log to its end, retrying while Kafka or the registry is unreachable."""
        attempt = 0
        while not self._stop.is_set():
            try:
                applied = self._log.catch_up(self._apply_logged)
                if applied:
                    logger.info(
                        "restored {} alert events; {} alerts open",
                        applied,
                        len(self._engine.open_alerts),
                    )
                self._update_open()
                return
            except Exception as exc:
                attempt += 1
                self._metrics.errors.labels("restore").inc()
                delay = self._backoff.delay(attempt)
                logger.error("reading the alerts log failed ({}); retry in {:.1f}s", exc, delay)
                self._stop.wait(delay)

    def _apply_logged(self, event: AlertEvent) -> None:
        self._engine.restore(event)
        self._metrics.restored.inc()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return  # an incremental rebalance that gave this instance nothing new
        logger.info("assigned {}", [(p.topic, p.partition) for p in partitions])
        # Events the previous owner delivered before giving the partitions up are on the log.
        self.restore()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone: set[str] = set()
        for p in partitions:
            gone |= self._devices_by_partition.pop((p.topic, p.partition), set())
            with contextlib.suppress(KeyError):
                self._metrics.lag.remove(p.topic, str(p.partition))
        self._engine.forget_devices(gone)
        logger.info(
            "revoked {}; forgot {} devices", [(p.topic, p.partition) for p in partitions], len(gone)
        )

    # --- main loop ----------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    def run(self, stop: threading.Event | None = None) -> None:
        if stop is not None:
            self._stop = stop
        self.restore()
        self._consumer.subscribe(
            [self._topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        next_tick = self._clock() + self._tick_interval
        next_lag = self._clock()
        try:
            while not self._stop.is_set():
                wait = min(1.0, max(0.0, next_tick - self._clock()))
                messages = self._consumer.consume(num_messages=self._batch_size, timeout=wait)
                events: list[AlertEvent] = []
                done: list[Message] = []
                for message in messages:
                    if self._evaluate(message, events):
                        done.append(message)
                if self._clock() >= next_tick:
                    events += self._engine.on_tick(self._now_ms())
                    next_tick = self._clock() + self._tick_interval
                if events:
                    self._publish(events)
                if done:
                    self._commit(done)
                if events or done:
                    self._update_open()
                if self._clock() >= next_lag:
                    measured = self._update_lag()
                    next_lag = self._clock() + (LAG_INTERVAL if measured else 1.0)
        except Undelivered as exc:
            logger.error("stopping with undelivered alert events ({}); readings re-read", exc)
        finally:
            self._consumer.close()
            self._publisher.flush(10)
            self._log.close()

    def _evaluate(self, message: Message, events: list[AlertEvent]) -> bool:
        """Run one message through the rules; False if it must not be committed (stopping)."""
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                logger.warning("consumer error: {}", error)
            return False
        record = self._decode_with_retry(message)
        if isinstance(record, str):
            self._metrics.errors.labels("deserialization").inc()
            logger.warning(
                "skipping undecodable reading {}[{}]@{}: {}",
                message.topic(),
                message.partition(),
                message.offset(),
                record,
            )
            return True
        if record is None:
            self._metrics.errors.labels("empty").inc()
            return True
        try:
            reading = reading_from_record(record)
        except InvalidReading as exc:
            self._metrics.errors.labels("invalid_reading").inc()
            logger.warning(
                "skipping reading at {}@{}: {}", message.partition(), message.offset(), exc
            )
            return True
        try:
            events += self._engine.on_reading(reading, self._now_ms())
        except Exception as exc:  # a rule bug must not stop the service
            self._metrics.errors.labels("rule").inc()
            logger.exception("rules failed on {}: {}", reading.device_id, exc)
            return True
        self._metrics.readings.inc()
        key = (message.topic(), message.partition())
        self._devices_by_partition.setdefault(key, set()).add(reading.device_id)
        return True

    def _decode_with_retry(self, message: Message) -> dict[str, Any] | str | None:
        attempt = 0
        while True:
            try:
                return self._decode(message)
            except Exception as exc:
                if not is_transient_decode_error(exc):
                    return f"{type(exc).__name__}: {exc}"
                attempt += 1
                if self._stop.is_set() and attempt > 3:
                    raise Undelivered(f"schema registry unavailable: {exc}") from exc
                logger.warning("schema registry unavailable ({}); retry {}", exc, attempt)
                self._stop.wait(self._backoff.delay(attempt))

    def _publish(self, events: Sequence[AlertEvent]) -> None:
        """Deliver every event (retrying failures); raises Undelivered only when stopping."""
        pending = list(events)
        attempt = 0
        while pending:
            failed: list[AlertEvent] = []
            delivered: list[AlertEvent] = []
            for event in pending:
                report = _delivery_report(event, delivered, failed)
                try:
                    self._publisher.produce(event.key, event_to_record(event), on_delivery=report)
                except (ValueError, TypeError, KafkaException) as exc:
                    self._metrics.errors.labels("serialization").inc()
                    logger.error("alert event cannot be produced ({}): {}", exc, event)
            while self._publisher.flush(5) > 0:
                if self._stop.is_set():
                    raise Undelivered("alerts topic unreachable")
            for event in delivered:
                self._metrics.delivered(event)
                log_alert(event)
            pending = failed
            if pending:
                attempt += 1
                self._metrics.errors.labels("delivery").inc(len(pending))
                if self._stop.is_set() and attempt > 3:
                    raise Undelivered(f"{len(pending)} alert events not delivered")
                self._stop.wait(self._backoff.delay(attempt))

    def _commit(self, messages: Sequence[Message]) -> None:
        try:
            self._consumer.commit(offsets=offsets_to_commit(messages), asynchronous=False)
        except KafkaException as exc:
            # The events are delivered; a failed commit means re-reading, which is not re-alerted.
            logger.warning("offset commit failed: {}", exc)

    def _update_open(self) -> None:
        self._metrics.set_open([(a.rule, a.severity) for a in self._engine.open_alerts.values()])

    def _update_lag(self) -> bool:
        """Lag per assigned partition; False when there was nothing to measure yet."""
        try:
            assignment = self._consumer.assignment()
            if not assignment:
                return False
            for tp in self._consumer.position(assignment):
                low, high = self._consumer.get_watermark_offsets(tp, timeout=2, cached=False)
                position = tp.offset if tp.offset >= 0 else low
                self._metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - position))
            return True
        except KafkaException as exc:
            logger.debug("lag not measured: {}", exc)
            return False


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


def build_service(
    settings: Settings, registry: CollectorRegistry, stop: threading.Event
) -> AlertService | None:
    client = SchemaRegistryClient({"url": settings.schema_registry_url})
    backoff = Backoff(maximum=10.0)
    publisher = create_publisher(settings, client, registry, stop, backoff)
    if publisher is None:
        return None
    consumer = Consumer(
        {
            **consumer_config(settings, settings.kafka_consumer_group_id, SERVICE_NAME),
            "session.timeout.ms": round(settings.alerts_session_timeout * 1000),
        }
    )
    log_consumer = Consumer(
        {
            **consumer_config(
                settings,
                f"{settings.kafka_consumer_group_id}-alert-log",
                f"{SERVICE_NAME}-alert-log",
                auto_offset_reset="earliest",
            ),
            "enable.partition.eof": False,
        }
    )
    decoder = FramedAvroDecoder(client)
    return AlertService(
        consumer,
        decoder,
        publisher,
        AlertLog(
            log_consumer, decoder, settings.kafka_alerts_topic_name, settings.alerts_restore_timeout
        ),
        AlertEngine(rules_config_from_settings(settings)),
        AlertMetrics(registry),
        topic=settings.kafka_topic_name,
        batch_size=settings.alerts_batch_size,
        tick_interval=settings.alerts_tick_interval,
        backoff=backoff,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings_or_exit(SERVICE_NAME)
    configure_logging(settings.log_level, settings.log_format, SERVICE_NAME)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal {} received: finishing the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    registry = CollectorRegistry()
    serve_metrics(registry, settings.alerts_metrics_port)
    service = build_service(settings, registry, stop)
    if service is None:
        return 0
    logger.info(
        "alert consumer: {} -> {} (group {})",
        settings.kafka_topic_name,
        settings.kafka_alerts_topic_name,
        settings.kafka_consumer_group_id,
    )
    service.run(stop)
    logger.info("alert consumer stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
