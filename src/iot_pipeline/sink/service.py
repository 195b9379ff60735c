"""The TimescaleDB sink: readings -> rows -> one transaction per batch, on the consumer loop.

The loop (:mod:`iot_pipeline.stream`) gives the guarantees: offsets are committed only after
the batch's transaction (and its dead letters' delivery) succeeded, so a crash re-delivers,
never loses; while the database is unreachable the assigned partitions are paused and the batch
is retried with exponential backoff; a record that can never be stored goes to the dead-letter
topic with a reason; a stop request (SIGTERM) writes and commits the current batch before
closing. Writes are idempotent on (device_id, timestamp), so re-delivery never duplicates. This
module supplies the step (:class:`~iot_pipeline.sink.step.StoreRows`), the schema migration at
start (when its role owns the schema) and the maintenance thread.

Why the project's own loop rather than a framework: quix-streams 3.28 pins confluent-kafka<2.13
and pydantic<2.14 (this project pins 2.16 and 2.14) and brings a RocksDB state store the sink
does not need; sentry-arroyo 2.48 fits the model (Reduce + backpressure that pauses partitions)
but wraps its own consumer and DLQ conventions around confluent-kafka, duplicating the project's
``iot_pipeline.kafka`` helpers.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from loguru import logger
from prometheus_client import CollectorRegistry, start_http_server
from sqlalchemy import Engine

from iot_pipeline.config import Settings, load_settings_or_exit
from iot_pipeline.kafka.config import consumer_config, producer_config
from iot_pipeline.kafka.consumer import FramedAvroDecoder
from iot_pipeline.observability.logging import configure_logging
from iot_pipeline.observability.metrics import serve_metrics
from iot_pipeline.retry import Backoff
from iot_pipeline.runtime import tune_for_throughput
from iot_pipeline.schemas.registry import registry_client_config
from iot_pipeline.sink.decoding import TranscodingDecoder
from iot_pipeline.sink.metrics import SinkMetrics
from iot_pipeline.sink.step import (
    BINARY_ROWS,
    TUPLE_ROWS,
    BinaryDatabaseStore,
    DatabaseStore,
    RowFormat,
    RowStore,
    StoreRows,
)
from iot_pipeline.sink.workers import Supervisor, WorkerMetrics, WorkerSlot
from iot_pipeline.storage.access import check_access, writer_wait_reason
from iot_pipeline.storage.engine import create_db_engine
from iot_pipeline.storage.maintenance import run_maintenance, storage_path
from iot_pipeline.storage.migrate import (
    Edition,
    MigrationError,
    apply_migrations,
    detect_edition,
    resolve_migrations_dir,
)
from iot_pipeline.storage.writer import WriteMethod, is_data_error
from iot_pipeline.stream import (
    BatchPolicy,
    ConsumerLoop,
    DeadLetterQueue,
    Decoder,
    SizeOrAge,
    StopPatience,
    WhenCaughtUp,
)
from iot_pipeline.stream.stopping import stop_on_signals

SERVICE_NAME = "timescaledb-sink"
# How long a final flush (on stop) keeps retrying an unreachable database before giving up; what
# it gives up on is not committed, so it is re-read on the next start.
FINAL_FLUSH_PATIENCE = 15.0


def batch_policy(batch_size: int, commit_interval: float, when_caught_up: bool) -> BatchPolicy:
    """Full batches, or ``commit_interval`` after the first row; with ``when_caught_up`` also
    as soon as nothing more is waiting (the default: milliseconds at light load)."""
    size_or_age = SizeOrAge(max_size=batch_size, max_age=commit_interval)
    return WhenCaughtUp(size_or_age) if when_caught_up else size_or_age


class SinkService:
    """The sink's consumer: :class:`StoreRows` on a :class:`ConsumerLoop` (latency-aware
    batches, dead letters to ``dlq_topic``, back-pressure while the database is unreachable).
    ``row_format`` says what ``store`` receives (row tuples unless told)."""

    def __init__(
        self,
        consumer: Consumer,
        decode: Decoder,
        store: RowStore[Any],
        dlq_producer: Producer,
        *,
        topic: str,
        dlq_topic: str,
        batch_size: int,
        commit_interval: float,
        metrics: SinkMetrics,
        write_when_caught_up: bool = True,
        write_in_background: bool = False,
        row_format: RowFormat[Any] = TUPLE_ROWS,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._stop = threading.Event()
        self._loop: ConsumerLoop[Any] = ConsumerLoop(
            consumer,
            decode,
            StoreRows(store, metrics, row_format=row_format, clock=clock, wall_clock=wall_clock),
            topics=[topic],
            policy=batch_policy(batch_size, commit_interval, write_when_caught_up),
            dead_letters=DeadLetterQueue(dlq_producer, dlq_topic, SERVICE_NAME),
            observer=metrics,
            backoff=backoff,
            patience=StopPatience(seconds=FINAL_FLUSH_PATIENCE),
            write_in_background=write_in_background,
            clock=clock,
            destination="database",
        )

    def request_stop(self) -> None:
        self._stop.set()

    def run(self, stop: threading.Event | None = None) -> None:
        self._loop.run(stop if stop is not None else self._stop)


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


def prepare_schema(
    engine: Engine, settings: Settings, stop: threading.Event, backoff: Backoff
) -> tuple[Edition, bool] | None:
    """The edition, and whether this sink maintains the schema, once the schema is ready; None if
    stopped first. A role that owns the schema applies the migrations (and maintains it); a
    least-privilege writer (iot_sink) never runs DDL: it waits until the owner's migrations made
    the readings table writable for it. Retries while PostgreSQL is unreachable."""
    directory = resolve_migrations_dir(settings.postgres_migrations_dir)
    attempt = 0
    while not stop.is_set():
        try:
            access = check_access(engine, settings.postgres_schema)
            if access.owner:
                return apply_migrations(engine, directory, settings.postgres_schema).edition, True
            reason = writer_wait_reason(access)
            if reason is None:
                logger.info(
                    "connected as {} (no DDL): the owner migrates and maintains the schema",
                    access.role,
                )
                with engine.connect() as conn:
                    return detect_edition(conn), False
            attempt += 1
            delay = backoff.delay(attempt)
            logger.warning("{}; retry in {:.1f}s", reason, delay)
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
    stop = stop_on_signals()
    if settings.sink_workers == 1:
        return run_sink(settings, stop)
    return supervise_workers(settings, stop)


def supervise_workers(settings: Settings, stop: threading.Event) -> int:
    """SINK_WORKERS processes (:mod:`iot_pipeline.sink.workers`); the schema is made ready first,
    here, so the workers find it ready."""
    engine = create_db_engine(settings)
    try:
        backoff = Backoff(maximum=settings.data_sink_retry_max_backoff)
        if prepare_schema(engine, settings, stop, backoff) is None:
            return 0
    finally:
        engine.dispose()
    registry = CollectorRegistry()
    collector = WorkerMetrics()
    registry.register(collector)
    serve_metrics(registry, settings.sink_metrics_port)
    grace = FINAL_FLUSH_PATIENCE + 15.0
    supervisor = Supervisor(
        settings.sink_workers, worker_main, name=SERVICE_NAME, metrics=collector, grace=grace
    )
    return supervisor.run(stop)


def worker_main(slot: WorkerSlot) -> int:
    """One worker process of :func:`supervise_workers`."""
    settings = load_settings_or_exit(SERVICE_NAME)
    configure_logging(settings.log_level, settings.log_format, f"{SERVICE_NAME}-{slot.index}")
    return run_sink(settings, stop_on_signals(), slot)


def run_sink(settings: Settings, stop: threading.Event, slot: WorkerSlot | None = None) -> int:
    """The sink in this process: the whole service, or one worker of several (``slot``)."""
    registry = CollectorRegistry()
    metrics = SinkMetrics(registry)
    if slot is None:
        serve_metrics(registry, settings.sink_metrics_port)
    else:
        server, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
        slot.report_port(server.server_port)
    engine = create_db_engine(settings)
    backoff = Backoff(maximum=settings.data_sink_retry_max_backoff)
    prepared = prepare_schema(engine, settings, stop, backoff)
    if prepared is None:
        return 0
    edition, maintains = prepared
    path = storage_path(edition)
    metrics.edition.info(path)
    logger.info("TimescaleDB storage path: {}", path)
    if maintains and (slot is None or slot.index == 0):
        MaintenanceThread(engine, edition, settings, metrics, stop).start()
    client_id = SERVICE_NAME if slot is None else f"{SERVICE_NAME}-{slot.index}"
    service = _service(settings, engine, metrics, backoff, client_id)
    tune_for_throughput()
    try:
        service.run(stop)
    finally:
        engine.dispose()
    logger.info("sink stopped")
    return 0


def _service(
    settings: Settings, engine: Engine, metrics: SinkMetrics, backoff: Backoff, client_id: str
) -> SinkService:
    consumer = Consumer(
        {
            **consumer_config(settings, settings.sink_consumer_group_id, client_id),
            "session.timeout.ms": round(settings.sink_session_timeout * 1000),
        }
    )
    dlq = Producer(producer_config(settings, f"{client_id}-dlq"))
    method = WriteMethod(settings.data_sink_write_method)
    binary = settings.data_sink_copy_format == "binary" and method is not WriteMethod.VALUES
    registry = SchemaRegistryClient(registry_client_config(settings))
    decoder: Decoder = (
        TranscodingDecoder(registry)
        if binary and settings.data_sink_transcode
        else FramedAvroDecoder(registry, millis_as_int=binary)
    )
    store = BinaryDatabaseStore(engine, method) if binary else DatabaseStore(engine, method)
    return SinkService(
        consumer,
        decoder,
        store,
        dlq,
        topic=settings.kafka_topic_name,
        dlq_topic=settings.kafka_dlq_topic_name,
        batch_size=settings.data_sink_batch_size,
        commit_interval=settings.data_sink_commit_interval,
        metrics=metrics,
        write_when_caught_up=settings.data_sink_write_when_caught_up,
        write_in_background=settings.data_sink_write_in_background,
        row_format=BINARY_ROWS if binary else TUPLE_ROWS,
        backoff=backoff,
    )


if __name__ == "__main__":
    sys.exit(main())
