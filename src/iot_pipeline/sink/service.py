"""The sink's consume -> batch -> write -> commit loop, a thin layer on confluent-kafka.

Guarantees:
- offsets are committed only after the batch's database transaction (and its dead letters'
  delivery) succeeded, so a crash at any point re-delivers, never loses;
- writes are idempotent on (device_id, timestamp), so re-delivery never duplicates;
- while the database is unreachable the assigned partitions are paused and the batch is retried
  with exponential backoff; consumption resumes by itself once a write succeeds;
- a record that can never be stored goes to the dead-letter topic with a reason;
- a stop request (SIGTERM) writes and commits the current batch before closing.

Why a thin loop rather than a framework: quix-streams 3.28 pins confluent-kafka<2.13 and
pydantic<2.14 (this project pins 2.16 and 2.14) and brings a RocksDB state store the sink does not
need; sentry-arroyo 2.48 fits the model (Reduce + backpressure that pauses partitions) but wraps
its own consumer and DLQ conventions around confluent-kafka, duplicating the project's
``iot_pipeline.kafka`` helpers, for a loop whose policy (Batch, Backoff) is ~100 lines of pure,
unit-tested code here.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from loguru import logger
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from iot_pipeline.config import Settings, load_settings_or_exit
from iot_pipeline.kafka.config import consumer_config, producer_config
from iot_pipeline.kafka.consumer import (
    FramedAvroDecoder,
    is_transient_decode_error,
    offsets_to_commit,
)
from iot_pipeline.observability.logging import configure_logging
from iot_pipeline.observability.metrics import serve_metrics
from iot_pipeline.retry import Backoff
from iot_pipeline.sink.batching import Batch
from iot_pipeline.sink.dlq import DeadLetterReason, dlq_headers
from iot_pipeline.sink.metrics import SinkMetrics
from iot_pipeline.storage.engine import create_db_engine
from iot_pipeline.storage.maintenance import run_maintenance, storage_path
from iot_pipeline.storage.migrate import (
    Edition,
    MigrationError,
    apply_migrations,
    resolve_migrations_dir,
)
from iot_pipeline.storage.rows import InvalidReading, Row, reading_to_row
from iot_pipeline.storage.schema import WRITE_COLUMNS
from iot_pipeline.storage.writer import (
    WriteMethod,
    is_data_error,
    write_batch,
    write_rows_one_by_one,
)

SERVICE_NAME = "timescaledb-sink"
_TS_INDEX = WRITE_COLUMNS.index("timestamp")
# How long a final flush (on stop) keeps retrying an unreachable database before giving up; what
# it gives up on is not committed, so it is re-read on the next start.
FINAL_FLUSH_PATIENCE = 15.0


class TransientError(Exception):
    """A failure worth retrying (registry or database unreachable)."""


class Decoder(Protocol):
    def __call__(self, message: Message) -> dict[str, Any] | None: ...


class RowStore(Protocol):
    """Where batches go: :class:`DatabaseStore` in the service, a fake in unit tests."""

    def write(self, rows: Sequence[Row]) -> int:
        """Write all rows in one transaction; return how many were new."""
        ...

    def write_one_by_one(self, rows: Sequence[Row]) -> list[Exception | None]:
        """Write rows separately; per row None (stored) or the data error rejecting it."""
        ...


class DatabaseStore:
    def __init__(self, engine: Engine, method: WriteMethod = WriteMethod.COPY) -> None:
        self._engine = engine
        self._method = method

    def write(self, rows: Sequence[Row]) -> int:
        return write_batch(self._engine, rows, self._method)

    def write_one_by_one(self, rows: Sequence[Row]) -> list[Exception | None]:
        return write_rows_one_by_one(self._engine, rows)


def _partition_key(message: Message) -> tuple[str, int]:
    return (message.topic(), message.partition())


class SinkService:
    def __init__(
        self,
        consumer: Consumer,
        decode: Decoder,
        store: RowStore,
        dlq_producer: Producer,
        *,
        topic: str,
        dlq_topic: str,
        batch_size: int,
        commit_interval: float,
        metrics: SinkMetrics,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._consumer = consumer
        self._decode = decode
        self._store_rows = store
        self._dlq = dlq_producer
        self._topic = topic
        self._dlq_topic = dlq_topic
        self._batch_size = batch_size
        self._commit_interval = commit_interval
        self._metrics = metrics
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._wall = wall_clock
        self._batch: Batch[Message] = self._new_batch()
        self._held: deque[Message] = deque()
        self._paused = False
        self._stop = threading.Event()

    def _new_batch(self) -> Batch[Message]:
        return Batch(max_size=self._batch_size, max_age=self._commit_interval)

    # --- rebalancing ---------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("assigned {}", [(p.topic, p.partition) for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Forget uncommitted messages of partitions we lose: their new owner re-reads them from
        the last commit, and the writes are idempotent, so nothing is lost or duplicated."""
        lost = {(p.topic, p.partition) for p in partitions}
        logger.info("revoked {}", sorted(lost))
        self._batch.drop_partitions(lost, _partition_key)
        self._held = deque(m for m in self._held if _partition_key(m) not in lost)

    # --- main loop -----------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    def run(self, stop: threading.Event | None = None) -> None:
        if stop is not None:
            self._stop = stop
        self._consumer.subscribe(
            [self._topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        try:
            while not self._stop.is_set():
                self._fill(self._batch.wait_time(self._clock(), 0.5))
                if self._batch.is_due(self._clock()):
                    self._flush(final=False)
            if len(self._batch):
                logger.info("stopping: writing the last batch of {} records", len(self._batch))
                self._flush(final=True)
        except TransientError as exc:
            logger.error("stopping without writing the last batch ({}); it is re-read", exc)
        finally:
            self._consumer.close()
            self._dlq.flush(10)

    def _fill(self, timeout: float) -> None:
        if self._held:
            self._drain_held()
            return
        messages = self._consumer.consume(num_messages=self._batch.room(), timeout=timeout)
        for message in messages:
            self._accept(message)

    def _drain_held(self) -> None:
        while self._held and not self._batch.is_full():
            self._accept(self._held.popleft())

    def _accept(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                logger.warning("consumer error: {}", error)
            return
        self._metrics.received.inc()
        now = self._clock()
        decoded = self._decode_with_retry(message)
        if isinstance(decoded, str):
            self._batch.add_dead(now, message, DeadLetterReason.DESERIALIZATION, decoded)
            return
        if decoded is None:
            self._batch.add_dead(now, message, DeadLetterReason.DESERIALIZATION, "empty value")
            return
        try:
            row = reading_to_row(decoded)
        except InvalidReading as exc:
            self._batch.add_dead(now, message, DeadLetterReason.INVALID_READING, exc.reason)
            return
        self._batch.add_row(now, message, row, row[_TS_INDEX].timestamp())

    def _decode_with_retry(self, message: Message) -> dict[str, Any] | str | None:
        """The decoded record, or a string saying why it never will decode (poison). While the
        registry is unreachable, waits with partitions paused; raises TransientError if asked to
        stop meanwhile (nothing of the batch is committed then, so nothing is lost)."""
        attempt = 0
        while True:
            try:
                return self._decode(message)
            except Exception as exc:
                if not is_transient_decode_error(exc):
                    return f"{type(exc).__name__}: {exc}"
                if self._stop.is_set():
                    raise TransientError(f"schema registry unavailable: {exc}") from exc
                attempt += 1
                logger.warning("schema registry unavailable ({}); retry {}", exc, attempt)
                self._wait_paused(self._backoff.delay(attempt))

    # --- writing -------------------------------------------------------------------------------
    def _store(self, rows: Sequence[Row]) -> tuple[int, list[tuple[int, Exception]]]:
        """Write rows in one transaction; on a data error isolate the poison rows."""
        try:
            return self._store_rows.write(rows), []
        except Exception as exc:
            if not is_data_error(exc):
                raise TransientError(" ".join(str(exc).split())) from exc
            self._metrics.db_errors.labels("data").inc()
            logger.warning("batch rejected by the database ({}); isolating bad rows", exc)
        try:
            results = self._store_rows.write_one_by_one(rows)
        except Exception as exc:
            raise TransientError(" ".join(str(exc).split())) from exc
        rejected = [(i, err) for i, err in enumerate(results) if err is not None]
        return -1, rejected

    def _flush(self, *, final: bool) -> None:
        started = self._clock()
        deadline = started + FINAL_FLUSH_PATIENCE
        attempt = 0
        while True:
            batch = self._batch
            try:
                write_started = self._clock()
                inserted, rejected = self._store(batch.rows)
                self._metrics.insert_latency.observe(self._clock() - write_started)
                break
            except TransientError as exc:
                attempt += 1
                self._metrics.db_errors.labels("transient").inc()
                delay = self._backoff.delay(attempt)
                logger.error("database write failed ({}); retry {} in {:.1f}s", exc, attempt, delay)
                if final and (self._clock() + delay > deadline):
                    logger.error(
                        "giving up on the last batch; it is not committed and will be "
                        "re-read on the next start"
                    )
                    return
                if not final and self._stop.is_set():
                    return self._flush(final=True)
                self._wait_paused(delay)
        self._resume()
        batch = self._batch
        for index, err in rejected:
            message = batch.row_messages[index]
            batch.dead.append((message, DeadLetterReason.DATABASE_REJECTED, str(err).strip()))
        stored = len(batch.rows) - len(rejected)
        if inserted < 0:
            inserted = stored  # one-by-one path: new vs duplicate is not told apart
        self._send_dead_letters(batch)
        self._commit(batch, wait=final)
        now_wall = self._wall()
        rejected_idx = {i for i, _ in rejected}
        for i, event_time in enumerate(batch.newest_event_times):
            if i not in rejected_idx:
                self._metrics.sensor_to_commit.observe(max(0.0, now_wall - event_time))
        self._metrics.processed.inc(stored)
        self._metrics.rows_inserted.inc(inserted)
        self._metrics.duplicates.inc(max(0, stored - inserted))
        self._metrics.batch_size.observe(len(batch.rows))
        self._metrics.processing.observe(self._clock() - started)
        self._batch = self._new_batch()

    def _send_dead_letters(self, batch: Batch[Message]) -> None:
        if not batch.dead:
            return
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, _msg: Message) -> None:
            if error is not None:
                failures.append(error)

        for message, reason, detail in batch.dead:
            logger.warning(
                "dead-lettering {}[{}]@{}: {} ({})",
                message.topic(),
                message.partition(),
                message.offset(),
                reason,
                detail,
            )
            self._dlq.produce(
                self._dlq_topic,
                value=message.value(),
                key=message.key(),
                headers=dlq_headers(
                    DeadLetterReason(reason),
                    detail,
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    message.headers(),
                ),
                on_delivery=delivered,
            )
            self._metrics.failed.labels(str(reason)).inc()
        attempt = 0
        while self._dlq.flush(30) > 0 or failures:
            # Dead letters must be durable before their offsets are committed.
            attempt += 1
            if self._stop.is_set() and attempt > 3:
                raise TransientError("dead-letter topic unreachable; offsets not committed")
            logger.error("dead letters not delivered ({}); retrying", failures[:1])
            failures.clear()
            self._wait_paused(self._backoff.delay(attempt))

    def _commit(self, batch: Batch[Message], *, wait: bool) -> None:
        """Commit the batch's offsets. Normally asynchronously: the rows are already stored, so
        waiting for the broker adds latency and protects nothing (a commit lost in a crash means
        a replay, which is idempotent). The last batch before closing waits."""
        offsets = offsets_to_commit(batch.messages)
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=not wait)
            self._metrics.commits.inc()
        except KafkaException as exc:
            # The rows are stored; a failed commit only means they are re-read (and skipped).
            logger.warning("offset commit failed after a stored batch: {}", exc)

    # --- pausing -------------------------------------------------------------------------------
    def _wait_paused(self, delay: float) -> None:
        """Pause every assigned partition and keep the consumer alive for ``delay`` seconds.
        Anything still delivered meanwhile is held (uncommitted) and processed afterwards."""
        assignment = self._consumer.assignment()
        if assignment:
            self._consumer.pause(assignment)
        if not self._paused:
            logger.warning("pausing consumption until the write succeeds")
        self._paused = True
        self._metrics.paused.set(1)
        end = self._clock() + delay
        while not self._stop.is_set():
            left = end - self._clock()
            if left <= 0:
                break
            for message in self._consumer.consume(num_messages=100, timeout=min(left, 0.5)):
                self._held.append(message)
            newly = self._consumer.assignment()
            if newly:
                self._consumer.pause(newly)

    def _resume(self) -> None:
        if not self._paused:
            return
        assignment = self._consumer.assignment()
        if assignment:
            self._consumer.resume(assignment)
        self._paused = False
        self._metrics.paused.set(0)
        logger.info("database reachable again; consumption resumed")


# --- service entry point -------------------------------------------------------------------------
class MaintenanceThread(threading.Thread):
    def __init__(
        self,
        engine: Engine,
        edition: Edition,
        settings: Settings,
        metrics: SinkMetrics,
        stop: threading.Event,
    ) -> None:
        super().__init__(name="storage-maintenance", daemon=True)
        self._engine = engine
        self._edition = edition
        self._settings = settings
        self._metrics = metrics
        self._stop = stop

    def run(self) -> None:
        while not self._stop.wait(self._settings.data_sink_maintenance_interval):
            try:
                run_maintenance(
                    self._engine,
                    self._edition,
                    self._settings.postgres_archive_after_days,
                    self._settings.postgres_retention_days,
                )
                self._metrics.maintenance_runs.labels("ok").inc()
            except Exception as exc:
                self._metrics.maintenance_runs.labels("failed").inc()
                logger.error("storage maintenance failed: {}", exc)


def migrate_when_reachable(
    engine: Engine, settings: Settings, stop: threading.Event, backoff: Backoff
) -> Edition | None:
    """Apply the schema migrations, waiting for PostgreSQL to come up; None if stopped first."""
    directory = resolve_migrations_dir(settings.postgres_migrations_dir)
    attempt = 0
    while not stop.is_set():
        try:
            return apply_migrations(engine, directory, settings.postgres_schema).edition
        except MigrationError:
            raise
        except Exception as exc:
            if is_data_error(exc):
                raise
            attempt += 1
            delay = backoff.delay(attempt)
            logger.warning("database not ready ({}); retry in {:.1f}s", exc, delay)
            stop.wait(delay)
    return None


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
    metrics = SinkMetrics(registry)
    serve_metrics(registry, settings.sink_metrics_port)
    engine = create_db_engine(settings)
    backoff = Backoff(maximum=settings.data_sink_retry_max_backoff)
    edition = migrate_when_reachable(engine, settings, stop, backoff)
    if edition is None:
        return 0
    path = storage_path(edition)
    metrics.edition.info(path)
    logger.info("TimescaleDB storage path: {}", path)

    consumer = Consumer(consumer_config(settings, settings.sink_consumer_group_id, SERVICE_NAME))
    dlq = Producer(producer_config(settings, f"{SERVICE_NAME}-dlq"))
    decoder = FramedAvroDecoder(SchemaRegistryClient({"url": settings.schema_registry_url}))
    MaintenanceThread(engine, edition, settings, metrics, stop).start()
    service = SinkService(
        consumer,
        decoder,
        DatabaseStore(engine, WriteMethod(settings.data_sink_write_method)),
        dlq,
        topic=settings.kafka_topic_name,
        dlq_topic=settings.kafka_dlq_topic_name,
        batch_size=settings.data_sink_batch_size,
        commit_interval=settings.data_sink_commit_interval,
        metrics=metrics,
        backoff=backoff,
    )
    try:
        service.run(stop)
    finally:
        engine.dispose()
    logger.info("sink stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
