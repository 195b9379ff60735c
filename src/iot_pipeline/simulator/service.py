"""The simulator service (run_producer.py): simulated devices -> Kafka, or simulated RuuviTags ->
MQTT in the ESP32 firmware's format (`IOT_SIMULATOR_MODE=ruuvi`)."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from loguru import logger
from prometheus_client import CollectorRegistry, Counter

from iot_pipeline.config import Settings, load_settings, load_settings_or_exit
from iot_pipeline.observability.logging import configure_logging
from iot_pipeline.observability.metrics import serve_metrics
from iot_pipeline.ruuvi import decode_payload
from iot_pipeline.schemas.registry import registry_client_config
from iot_pipeline.simulator.devices import DeviceFileError, load_devices
from iot_pipeline.simulator.models import default_devices, initial_state, next_reading
from iot_pipeline.simulator.ruuvi_tags import (
    build_gateway_message,
    make_tags,
    next_air_readings,
    next_format3_reading,
    next_tag_reading,
)
from iot_pipeline.simulator.schedule import Schedule

GATEWAY_ID = "sim-gw-01"
GATEWAY_MAC = "24:0A:C4:00:00:01"


class SimulatorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.readings = Counter(
            "iot_simulator_readings_total",
            "Readings generated.",
            ["device_type"],
            registry=registry,
        )
        self.anomalies = Counter(
            "iot_simulator_anomalies_total",
            "Readings generated as anomalies.",
            ["device_type"],
            registry=registry,
        )
        self.publish_failures = Counter(
            "iot_simulator_mqtt_publish_failures_total",
            "MQTT publishes that failed (ruuvi mode).",
            registry=registry,
        )


class Emitter(Protocol):
    def emit(self, key: str, message: dict[str, Any]) -> None: ...
    def close(self) -> int:
        """Deliver what is pending; return how many messages were not delivered."""
        ...


class KafkaEmitter:
    def __init__(self, producer: Any) -> None:
        self._producer = producer

    def emit(self, key: str, message: dict[str, Any]) -> None:
        self._producer.produce(key, message)

    def close(self) -> int:
        undelivered: int = self._producer.flush(30.0)
        return undelivered


class MqttEmitter:
    """QoS 1 publishes of JSON; close() waits until the broker has acknowledged each one."""

    def __init__(self, client: Any, topic: str, metrics: SimulatorMetrics) -> None:
        self._client = client
        self._topic = topic
        self._metrics = metrics
        self._pending: list[Any] = []

    def emit(self, key: str, message: dict[str, Any]) -> None:
        info = self._client.publish(self._topic, json.dumps(message), qos=1)
        if info.rc != 0:
            self._metrics.publish_failures.inc()
            logger.error("MQTT publish failed with rc={}", info.rc)
        self._pending.append(info)
        if len(self._pending) >= 10_000:
            self._pending = [i for i in self._pending if not i.is_published()]

    def close(self) -> int:
        deadline = time.monotonic() + 30.0
        undelivered = 0
        for info in self._pending:
            remaining = deadline - time.monotonic()
            # A publish that was never queued raises here; it counts as undelivered below.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=max(0.0, remaining))
            if not info.is_published():
                undelivered += 1
        self._client.disconnect()
        self._client.loop_stop()
        return undelivered


MessageSource = Callable[[int, datetime], tuple[str, dict[str, Any], bool, str]]


def kafka_source(settings: Settings, rng: random.Random) -> tuple[list[float], MessageSource]:
    if settings.iot_devices_file is not None:
        devices = load_devices(settings.iot_devices_file, settings.iot_data_interval_sec)
    else:
        devices = default_devices(
            settings.iot_num_devices,
            settings.iot_device_types,
            settings.iot_data_interval_sec,
            rng,
        )
    states = [initial_state(spec, rng) for spec in devices]

    def source(index: int, now: datetime) -> tuple[str, dict[str, Any], bool, str]:
        record = next_reading(states[index], now, rng, settings.iot_anomaly_probability)
        return record["device_id"], record, record["is_anomaly"], record["device_type"]

    return [spec.interval_sec for spec in devices], source


def ruuvi_source(settings: Settings, rng: random.Random) -> tuple[list[float], MessageSource]:
    """One schedule entry per advertised format of each tag (a "6+E1" Ruuvi Air has two: its
    E1 entry measures, its Format 6 entry repeats that measurement in Format 6)."""
    tags = make_tags(settings.iot_num_devices, rng, settings.iot_ruuvi_formats)
    entries = [
        (tag, fmt)
        for tag in tags
        for fmt in (["E1", "6"] if tag.tag_format == "6+E1" else [tag.tag_format])
    ]

    def source(index: int, now: datetime) -> tuple[str, dict[str, Any], bool, str]:
        tag, fmt = entries[index]
        before = tag.temperature
        if fmt in ("5", "3"):
            advance = next_tag_reading if fmt == "5" else next_format3_reading
            raw = advance(tag, rng, settings.iot_anomaly_probability)
            anomalous = decode_payload(raw).temperature > before + 20  # type: ignore[operator]
            kind = "ruuvitag"
        elif fmt == "6" and tag.pending_format6 is not None:
            raw, tag.pending_format6, anomalous = tag.pending_format6, None, False
            kind = "ruuvi_air"
        else:
            e1, f6, anomalous = next_air_readings(tag, rng, settings.iot_anomaly_probability, now)
            if tag.tag_format == "6+E1":
                tag.pending_format6 = f6
            raw = f6 if fmt == "6" else e1
            kind = "ruuvi_air"
        message = build_gateway_message(
            raw,
            gateway_id=GATEWAY_ID,
            gateway_mac=GATEWAY_MAC,
            rssi=round(rng.gauss(-70.0, 5.0)),
            timestamp=now,
            mac=tag.mac,
        )
        return tag.mac, message, anomalous, kind

    return [settings.iot_data_interval_sec] * len(entries), source


def run(
    emitter: Emitter,
    intervals: list[float],
    source: MessageSource,
    metrics: SimulatorMetrics,
    stop: threading.Event,
    max_messages: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Emit until stopped or `max_messages` were emitted; returns the number emitted."""
    schedule = Schedule(intervals, clock())
    children: dict[str, tuple[Any, Any]] = {}
    emitted = 0
    while not stop.is_set() and (max_messages is None or emitted < max_messages):
        delay = schedule.next_due() - clock()
        if delay > 0:
            stop.wait(delay)
            continue
        index = schedule.pop()
        key, message, is_anomaly, kind = source(index, wall_clock())
        emitter.emit(key, message)
        counters = children.get(kind)
        if counters is None:  # labels() is costly per message: resolve once per kind
            counters = children[kind] = (
                metrics.readings.labels(kind),
                metrics.anomalies.labels(kind),
            )
        counters[0].inc()
        if is_anomaly:
            counters[1].inc()
        emitted += 1
    return emitted


def _kafka_emitter(settings: Settings, registry: CollectorRegistry) -> KafkaEmitter:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from iot_pipeline.kafka.config import admin_config
    from iot_pipeline.kafka.producer import AvroProducer, ProducerMetrics
    from iot_pipeline.kafka.topics import ensure_topics, pipeline_topics
    from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema
    from iot_pipeline.schemas.reading_encoder import verified_encoder

    ensure_topics(AdminClient(admin_config(settings)), pipeline_topics(settings))
    schema_str = load_schema(READING_SCHEMA_FILE)
    producer = AvroProducer.create(
        settings,
        SchemaRegistryClient(registry_client_config(settings)),
        schema_str,
        settings.kafka_topic_name,
        client_id="iot-simulator",
        metrics=ProducerMetrics(registry),
    )
    producer.use_encoder(verified_encoder(producer.serialize, schema_str, sample_records()))
    return KafkaEmitter(producer)


def sample_records() -> list[dict[str, Any]]:
    """A few records of every simulated type, to verify the fast encoder against the registry's
    serializer (drawn from their own random source: the simulation itself is untouched)."""
    settings = load_settings(iot_num_devices=10, iot_anomaly_probability=0.5)
    intervals, source = kafka_source(settings, random.Random(0))
    now = datetime.now(UTC)
    return [source(index, now)[1] for index in range(len(intervals))]


def _mqtt_emitter(settings: Settings, metrics: SimulatorMetrics) -> MqttEmitter:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"iot-simulator-{GATEWAY_ID}")
    if settings.mqtt_username:
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        client.username_pw_set(settings.mqtt_username, password)
    if settings.mqtt_tls_enabled:
        client.tls_set(ca_certs=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None)
    client.max_inflight_messages_set(1000)
    client.connect(settings.mqtt_broker_host, settings.mqtt_broker_port, keepalive=30)
    client.loop_start()
    return MqttEmitter(client, settings.mqtt_topic, metrics)


def main() -> int:
    settings = load_settings_or_exit("simulator")
    configure_logging(settings.log_level, settings.log_format, service="simulator")
    registry = CollectorRegistry()
    metrics = SimulatorMetrics(registry)
    serve_metrics(registry, settings.simulator_metrics_port)
    rng = random.Random(settings.iot_random_seed)
    try:
        if settings.iot_simulator_mode == "ruuvi":
            intervals, source = ruuvi_source(settings, rng)
            emitter: Emitter = _mqtt_emitter(settings, metrics)
        else:
            intervals, source = kafka_source(settings, rng)
            emitter = _kafka_emitter(settings, registry)
    except DeviceFileError as error:
        logger.error("{}", error)
        return 2

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logger.info(
        "simulating {} devices in {} mode every {}s",
        len(intervals),
        settings.iot_simulator_mode,
        settings.iot_data_interval_sec,
    )
    emitted = run(emitter, intervals, source, metrics, stop, settings.iot_max_readings)
    undelivered = emitter.close()
    if undelivered:
        logger.error("{} of {} messages were not delivered", undelivered, emitted)
        return 1
    logger.info("stopped after {} messages, all delivered", emitted)
    return 0
