"""The lake archiver service (run_lake_archiver.py): iot-sensor-data -> the Iceberg table.

Its own consumer group (LAKE_CONSUMER_GROUP_ID) on the project's consumer loop
(:mod:`iot_pipeline.stream`) with :class:`~iot_pipeline.lake.step.ArchiveStep` as the step:
exactly once through the Kafka offsets kept in the table's snapshots (see the step). Readings
that cannot be archived go to the dead-letter topic with a reason; metrics on LAKE_METRICS_PORT.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from loguru import logger
from prometheus_client import CollectorRegistry
from pyiceberg.exceptions import CommitFailedException

from iot_pipeline.config import Settings, load_settings_or_exit
from iot_pipeline.kafka.config import consumer_config, producer_config
from iot_pipeline.kafka.consumer import FramedAvroDecoder
from iot_pipeline.lake.catalog import open_catalog, open_table
from iot_pipeline.lake.maintenance import maintain
from iot_pipeline.lake.metrics import ArchiverMetrics
from iot_pipeline.lake.roll import RollPolicy
from iot_pipeline.lake.step import ArchiveStep, Reading
from iot_pipeline.lake.writer import LakeWriter
from iot_pipeline.observability.logging import configure_logging
from iot_pipeline.observability.metrics import serve_metrics
from iot_pipeline.schemas.registry import registry_client_config
from iot_pipeline.stream import (
    ConsumerLoop,
    DeadLetterQueue,
    SizeOrAge,
    StopPatience,
    stop_on_signals,
)

SERVICE_NAME = "lake-archiver"
# Loop batches are small conversion steps; the roll policy decides the Iceberg commits.
CONVERT_BATCH_SIZE = 5000
CONVERT_BATCH_AGE = 1.0
FINAL_FLUSH_PATIENCE = 15.0


def build_loop(
    settings: Settings,
    consumer: Consumer,
    dlq: Producer,
    registry: SchemaRegistryClient,
    step: ArchiveStep,
    metrics: ArchiverMetrics,
) -> ConsumerLoop[Reading]:
    return ConsumerLoop(
        consumer,
        FramedAvroDecoder(registry),
        step,
        topics=[settings.kafka_topic_name],
        policy=SizeOrAge(max_size=CONVERT_BATCH_SIZE, max_age=CONVERT_BATCH_AGE),
        dead_letters=DeadLetterQueue(dlq, settings.kafka_dlq_topic_name, SERVICE_NAME),
        observer=metrics,
        patience=StopPatience(seconds=FINAL_FLUSH_PATIENCE),
        destination="Iceberg table",
    )


class MaintenanceThread(threading.Thread):
    """Compaction and snapshot expiry every LAKE_MAINTENANCE_INTERVAL seconds, on its own table
    handle. A run that loses a commit race to the archiver changes nothing (the table has no
    library retries, see catalog) and the next run tries again."""

    def __init__(self, settings: Settings, metrics: ArchiverMetrics, stop: threading.Event):
        super().__init__(name="lake-maintenance", daemon=True)
        self._settings = settings
        self._metrics = metrics
        self._stop = stop

    def run(self) -> None:
        while not self._stop.wait(self._settings.lake_maintenance_interval):
            try:
                table = open_table(open_catalog(self._settings), self._settings)
                compacted, expired = maintain(table, self._settings, int(time.time() * 1000))
                self._metrics.maintenance_runs.labels("ok").inc()
                logger.info("maintenance: {} / {}", compacted, expired)
            except CommitFailedException as exc:
                self._metrics.maintenance_runs.labels("conflict").inc()
                logger.warning("maintenance lost a race to a commit ({}); next run retries", exc)
            except Exception as exc:
                self._metrics.maintenance_runs.labels("failed").inc()
                logger.error("maintenance failed: {}", exc)


def archive(settings: Settings, metrics: ArchiverMetrics, stop: threading.Event) -> None:
    table = open_table(open_catalog(settings), settings)
    writer = LakeWriter(table, settings.kafka_topic_name, settings.lake_consumer_group_id)
    registry = SchemaRegistryClient(registry_client_config(settings))
    consumer = Consumer(consumer_config(settings, settings.lake_consumer_group_id, SERVICE_NAME))
    topic = settings.kafka_topic_name

    def writer_schema(schema_id: int) -> dict[str, Any]:
        text = registry.get_schema(schema_id).schema_str
        if text is None:
            raise ValueError(f"schema id {schema_id} has no schema text in the registry")
        schema: dict[str, Any] = json.loads(text)
        return schema

    def watermarks(partitions: Sequence[int]) -> Mapping[int, tuple[int, int]]:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=2.0)
            for p in partitions
        }

    step = ArchiveStep(
        writer,
        writer_schema,
        RollPolicy(settings.lake_roll_bytes, settings.lake_roll_interval),
        metrics,
        seek=consumer.seek,
        watermarks=watermarks,
    )
    dlq = Producer(producer_config(settings, f"{SERVICE_NAME}-dlq"))
    logger.info("archiving {} into {} ({})", topic, settings.lake_table, table.location())
    if settings.lake_maintenance_interval > 0:
        MaintenanceThread(settings, metrics, stop).start()
    try:
        build_loop(settings, consumer, dlq, registry, step, metrics).run(stop)
    finally:
        step.close()


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings_or_exit(SERVICE_NAME)
    configure_logging(settings.log_level, settings.log_format, SERVICE_NAME)
    stop = stop_on_signals()  # the loop stops, then the step commits what is buffered
    registry = CollectorRegistry()
    metrics = ArchiverMetrics(registry)
    serve_metrics(registry, settings.lake_metrics_port)
    archive(settings, metrics, stop)
    logger.info("archiver stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
