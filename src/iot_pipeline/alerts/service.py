"""The alert consumer: readings -> rules engine -> alert events, its step on the consumer loop.

Guarantees (the loop, :mod:`iot_pipeline.stream`, gives the Kafka ones):
- a consumer group on the readings topic (cooperative-sticky), so instances share partitions;
- input offsets are committed (synchronously) only after every alert event the poll caused was
  delivered (acks=all, idempotent producer); a crash re-delivers readings, never loses an alert;
- silence is evaluated on a timer, without new data (the step runs on every poll);
- open alerts survive a restart or a rebalance: the alerts topic itself is the state. At start
  and on every partition assignment the consumer reads the topic up to its end and rebuilds the
  open alerts from it (see :class:`~iot_pipeline.alerts.alert_log.AlertLog`). Readings
  re-delivered after a crash are not re-alerted: the engine ignores readings older than what the
  log already records.
- a bad message is counted and logged, never fatal (the TimescaleDB sink dead-letters it).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from loguru import logger
from prometheus_client import CollectorRegistry

from iot_pipeline.alerts.alert_log import AlertLog
from iot_pipeline.alerts.config import RulesConfig
from iot_pipeline.alerts.engine import AlertEngine
from iot_pipeline.alerts.metrics import AlertMetrics
from iot_pipeline.alerts.model import AlertEvent, reading_from_record
from iot_pipeline.alerts.publishing import SERVICE_NAME, EventPublisher, create_publisher
from iot_pipeline.config import Settings, load_settings_or_exit
from iot_pipeline.kafka.config import consumer_config
from iot_pipeline.kafka.consumer import FramedAvroDecoder
from iot_pipeline.kafka.dead_letter import DeadLetterReason
from iot_pipeline.kafka.producer import AvroProducer
from iot_pipeline.observability.logging import configure_logging
from iot_pipeline.observability.metrics import serve_metrics
from iot_pipeline.retry import Backoff
from iot_pipeline.schemas.records import InvalidReading
from iot_pipeline.stream import (
    Batch,
    ConsumerLoop,
    Decoder,
    EveryPollWhenCaughtUp,
    Rejected,
    Rejection,
    StepBase,
    StopPatience,
    Transient,
    partition_key,
)
from iot_pipeline.stream.stopping import stop_on_signals

LAG_INTERVAL = 10.0
# While stopping, undeliverable alert events are retried this many times; their readings then
# stay uncommitted and are re-read on the next start.
STOPPING_ATTEMPTS = 3

Events = list[AlertEvent]


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


class AlertService(StepBase[Events]):
    """The alert consumer's step (rules in ``transform``, delivery in ``write``) and its loop."""

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
        self._producer = publisher
        self._publisher = EventPublisher(publisher, metrics, self._stopping)
        self._log = log
        self._engine = engine
        self._metrics = metrics
        self._tick_interval = tick_interval
        self._backoff = backoff or Backoff(maximum=10.0)
        self._wall = wall_clock
        self._clock = clock
        self._stop = threading.Event()
        self._devices_by_partition: dict[tuple[str, int], set[str]] = {}
        self._next_tick = clock() + tick_interval
        self._next_lag = clock()
        self._unsent: Events | None = None  # events of the batch in hand not yet delivered
        self._had_work = False
        self._loop: ConsumerLoop[Events] = ConsumerLoop(
            consumer,
            decode,
            self,
            topics=[topic],
            policy=EveryPollWhenCaughtUp(batch_size),
            observer=metrics,
            backoff=self._backoff,
            patience=StopPatience(seconds=float("inf"), attempts=STOPPING_ATTEMPTS),
            commit_synchronously=True,
            max_poll_wait=1.0,
            clock=clock,
            destination="alerts topic",
        )

    def _stopping(self) -> bool:
        return self._stop.is_set()

    def _now_ms(self) -> int:
        return int(self._wall() * 1000)

    # --- running ------------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    def run(self, stop: threading.Event | None = None) -> None:
        if stop is not None:
            self._stop = stop
        self.restore()
        self._next_tick = self._clock() + self._tick_interval
        try:
            self._loop.run(self._stop)
        finally:
            self._publisher.flush(10)
            self._log.close()

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

    # --- the step -----------------------------------------------------------------------------
    def transform(self, message: Message, record: Mapping[str, Any]) -> Events:
        """Run one reading through the rules (engine state only, no I/O)."""
        try:
            reading = reading_from_record(dict(record))
        except InvalidReading as exc:
            raise Rejected(DeadLetterReason.INVALID_READING, exc.reason) from exc
        try:
            events = self._engine.on_reading(reading, self._now_ms())
        except Exception as exc:  # a rule bug must not stop the service
            logger.exception("rules failed on {}: {}", reading.device_id, exc)
            raise Rejected("rule", f"{type(exc).__name__}: {exc}") from exc
        self._metrics.readings.inc()
        self._devices_by_partition.setdefault(partition_key(message), set()).add(reading.device_id)
        return list(events)

    def write(self, batch: Batch[Message, Events]) -> list[Rejection]:
        """Deliver the events the poll caused (and the timer's); the loop commits after."""
        if self._unsent is None:
            self._unsent = [event for events in batch.values for event in events]
            if self._clock() >= self._next_tick:
                self._unsent += self._engine.on_tick(self._now_ms())
                self._next_tick = self._clock() + self._tick_interval
            self._had_work = bool(self._unsent or len(batch))
        if self._unsent:
            failed = self._publisher.publish(self._unsent)
            if failed:
                self._unsent = failed
                self._metrics.errors.labels("delivery").inc(len(failed))
                raise Transient(f"{len(failed)} alert events not delivered")
        self._unsent = None
        if self._had_work:
            self._update_open()
        return []

    def poll_timeout(self, now: float) -> float | None:
        return max(0.0, self._next_tick - now)

    def after_cycle(self) -> None:
        if self._clock() >= self._next_lag:
            measured = self._update_lag()
            self._next_lag = self._clock() + (LAG_INTERVAL if measured else 1.0)

    def on_assign(self, partitions: Sequence[TopicPartition]) -> None:
        if partitions:  # an incremental rebalance may give this instance nothing new
            # Events the previous owner delivered before giving the partitions up are on the log.
            self.restore()

    def on_revoke(self, partitions: Sequence[TopicPartition]) -> None:
        gone: set[str] = set()
        for p in partitions:
            gone |= self._devices_by_partition.pop((p.topic, p.partition), set())
            with contextlib.suppress(KeyError):
                self._metrics.lag.remove(p.topic, str(p.partition))
        self._engine.forget_devices(gone)
        logger.info("forgot {} devices of revoked partitions", len(gone))

    # --- gauges -------------------------------------------------------------------------------
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
    stop = stop_on_signals()
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
