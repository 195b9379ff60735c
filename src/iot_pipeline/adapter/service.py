"""The RuuviTag adapter service: MQTT (QoS 1, persistent session) -> Kafka, bad input -> DLQ.

Thin wiring of the session (``session``: paho, reconnection, the read/write loop), the pipeline
(``pipeline``: validate, drop duplicates, records, produce) and the acknowledgement ledger
(``ledger``: acknowledge each MQTT message only once Kafka confirmed everything made from it).

One thread does everything: it reads MQTT packets itself (paho's loop_read/loop_write, no network
thread), parses, transforms and produces each message as it arrives, and serves the Kafka
delivery callbacks, which acknowledge each MQTT message to the broker only once every record made
from it (or its dead letter) is confirmed by Kafka. A crash in between therefore loses nothing:
the broker redelivers what was never acknowledged. Why one thread: with paho's network thread
beside a processing thread, every librdkafka call that released the GIL handed it to the network
thread for up to a switch interval, and the adapter moved a sixth of what it moves now (make
bench). Back-pressure is MQTT's own: the broker sends at most Receive Maximum unacknowledged
messages, and sizes the producer queue (see _producer()).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Protocol

from loguru import logger
from prometheus_client import CollectorRegistry

from iot_pipeline.adapter.delivery import RecordSink
from iot_pipeline.adapter.encoding import records_encoder
from iot_pipeline.adapter.options import build_options
from iot_pipeline.adapter.pipeline import SERVICE_NAME, Adapter, AdapterMetrics
from iot_pipeline.adapter.session import MqttSession, SessionMetrics
from iot_pipeline.adapter.transform import MAX_RECORDS
from iot_pipeline.config import Settings, SettingsError, load_settings
from iot_pipeline.kafka.producer import AvroProducer
from iot_pipeline.schemas.registry import registry_client_config

RECORDS_PER_MESSAGE = MAX_RECORDS + 1  # at most: every sensor of a format + derived, + 1


class MessageSource(Protocol):
    """What run() needs of MqttSession."""

    @property
    def connected(self) -> bool: ...

    def service(self, timeout: float) -> int: ...


def run(adapter: Adapter, source: MessageSource, sink: RecordSink, stop: threading.Event) -> None:
    """Handle messages until ``stop`` is set; serves delivery callbacks and retries meanwhile.

    Waits in select() for MQTT only while nothing awaits Kafka; otherwise it alternates between
    the socket and the producer, so acknowledgements go out within milliseconds of Kafka's."""
    while not stop.is_set():
        busy = adapter.in_flight > 0
        handled = source.service(0.0 if busy else 0.05)
        if handled:
            sink.poll(0)
        elif not source.connected:
            sink.poll(0.05)  # waiting to reconnect: let Kafka confirm meanwhile
        else:
            sink.poll(0.002 if busy else 0)
        adapter.retry_failed()


def drain(adapter: Adapter, sink: RecordSink, timeout: float = 30.0) -> int:
    """After the loop stopped: wait for Kafka to confirm what is in flight (acknowledging it),
    retrying failures until ``timeout``; returns the MQTT messages still unconfirmed."""
    deadline = time.monotonic() + timeout
    while (adapter.in_flight or adapter.retries_waiting) and time.monotonic() < deadline:
        sink.flush(min(1.0, max(0.0, deadline - time.monotonic())))
        adapter.retry_failed()
    return adapter.in_flight


def _producer(settings: Settings, schema_str: str) -> AvroProducer:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return AvroProducer.create(
        settings,
        SchemaRegistryClient(registry_client_config(settings)),
        schema_str,
        settings.kafka_topic_name,
        client_id=settings.adapter_mqtt_client_id,
        # No per-record producer metrics: they cost a third of the adapter's time per reading;
        # the adapter counts confirmed records, failures and ack latency itself.
        metrics=None,
        # Room for every record of Receive Maximum unacknowledged messages (nine records each,
        # or one dead letter), so produce() does not block the MQTT loop on a full queue.
        extra_config={
            "queue.buffering.max.messages": max(
                200_000, RECORDS_PER_MESSAGE * settings.adapter_mqtt_receive_maximum
            ),
        },
    )


def _serve(settings: Settings, adapter: Adapter, session: MqttSession, sink: RecordSink) -> int:
    """Run until SIGTERM/SIGINT, then drain; 1 if messages were left unconfirmed."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    session.start()
    logger.info(
        "adapter running: MQTT {} -> Kafka {} (dead letters: {})",
        settings.adapter_mqtt_topics,
        settings.kafka_topic_name,
        settings.kafka_dlq_topic_name,
    )
    try:
        run(adapter, session, sink, stop)
    finally:
        unconfirmed = drain(adapter, sink)
        with contextlib.suppress(Exception):
            session.stop()
    if unconfirmed:
        logger.error(
            "{} MQTT messages unconfirmed by Kafka at exit; the broker will redeliver them",
            unconfirmed,
        )
        return 1
    logger.info("stopped cleanly; every processed message is in Kafka and acknowledged")
    return 0


def main() -> int:
    try:
        settings = load_settings()
        options = build_options(settings)
    except SettingsError as error:
        print(error)
        return 2
    from confluent_kafka.admin import AdminClient

    from iot_pipeline.kafka.config import admin_config
    from iot_pipeline.kafka.topics import ensure_topics, pipeline_topics
    from iot_pipeline.observability.logging import configure_logging
    from iot_pipeline.observability.metrics import serve_metrics
    from iot_pipeline.runtime import tune_for_throughput
    from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema

    configure_logging(settings.log_level, settings.log_format, service=SERVICE_NAME)
    registry = CollectorRegistry()
    ensure_topics(AdminClient(admin_config(settings)), pipeline_topics(settings))
    schema_str = load_schema(READING_SCHEMA_FILE)
    producer = _producer(settings, schema_str)
    encode_records = records_encoder(producer.serialize, schema_str)
    metrics = AdapterMetrics(registry)
    session_metrics = SessionMetrics(registry)
    serve_metrics(registry, settings.adapter_metrics_port)

    adapter: Adapter
    session = MqttSession(settings, lambda message: adapter.handle(message), session_metrics)
    adapter = Adapter(
        producer,
        settings.kafka_dlq_topic_name,
        session.acknowledge,
        options,
        metrics,
        encode_records=encode_records,
    )
    tune_for_throughput()
    return _serve(settings, adapter, session, producer)
