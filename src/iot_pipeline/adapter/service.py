"""The RuuviTag adapter service: MQTT (QoS 1, persistent session) -> Kafka, bad input -> DLQ.

One thread does everything: it reads MQTT packets itself (paho's loop_read/loop_write, no network
thread), parses, transforms and produces each message as it arrives, and serves the Kafka
delivery callbacks, which acknowledge each MQTT message to the broker only once every record made
from it (or its dead letter) is confirmed by Kafka. A crash in between therefore loses nothing:
the broker redelivers what was never acknowledged. Why one thread: with paho's network thread
beside a processing thread, every librdkafka call that released the GIL handed it to the network
thread for up to a switch interval, and the adapter moved a sixth of what it moves now (make
bench). Back-pressure is MQTT's own: the broker sends at most Receive Maximum unacknowledged
messages, and sizes the producer queue (see main()).
"""

from __future__ import annotations

import contextlib
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, NamedTuple, Protocol

from loguru import logger
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from iot_pipeline.adapter.dedup import DuplicateFilter
from iot_pipeline.adapter.reasons import Rejection
from iot_pipeline.adapter.transform import (
    SENSOR_NAMES,
    BatteryModel,
    ReadingRecords,
    Threshold,
    reading_records,
)
from iot_pipeline.adapter.validation import (
    GatewayStatus,
    SourceFormat,
    TagReading,
    ValidationLimits,
    parse_message,
)
from iot_pipeline.config import Settings, SettingsError, load_settings
from iot_pipeline.kafka.dead_letter import dead_letter_headers
from iot_pipeline.retry import Backoff
from iot_pipeline.schemas.reading_encoder import verified_reading_encoder

SERVICE_NAME = "ruuvitag-adapter"
INTERNAL_ERROR = "internal_error"  # DLQ reason when processing a message failed (a bug)
# 1 ms to ~60 s in steps of 25 %: fine enough to read p50/p99 off the histogram (make bench).
RECORDS_PER_MESSAGE = len(SENSOR_NAMES) + 1  # at most: one per sensor, plus headroom
LATENCY_BUCKETS = tuple(round(0.001 * 1.25**i, 6) for i in range(50))


class Incoming(NamedTuple):
    """One MQTT message as read from the broker (a NamedTuple: built once per message, and
    cheaper to build than a frozen dataclass)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: datetime
    received_mono: float


class AdapterMetrics:
    """The adapter's metrics; labels are bounded (reason codes, sources, states: no ids)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(
            "mqtt_adapter_messages_received_total", "MQTT messages received.", registry=registry
        )
        self.readings = Counter(
            "mqtt_adapter_readings_total",
            "Valid RuuviTag readings, by payload family.",
            ["source"],
            registry=registry,
        )
        self.records = Counter(
            "mqtt_adapter_records_published_total",
            "Per-sensor records confirmed by Kafka.",
            registry=registry,
        )
        self.dead_letters = Counter(
            "mqtt_adapter_dead_letters_total",
            "Messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.redeliveries = Counter(
            "mqtt_adapter_redeliveries_total",
            "Messages the broker sent again (after a reconnect) while their first copy was still "
            "waiting for Kafka: acknowledged with it, not processed twice.",
            registry=registry,
        )
        self.duplicates = Counter(
            "mqtt_adapter_duplicates_total",
            "Readings dropped as already published through another gateway.",
            registry=registry,
        )
        self.delivery_failures = Counter(
            "mqtt_adapter_kafka_delivery_failures_total",
            "Kafka deliveries that failed and were retried.",
            registry=registry,
        )
        self.devices_seen = Gauge(
            "mqtt_adapter_ruuvitag_devices_seen",
            "Distinct RuuviTags seen since start.",
            registry=registry,
        )
        self.gateways_online = Gauge(
            "mqtt_adapter_gateways_online",
            "Gateways whose last status message said online.",
            registry=registry,
        )
        self.gateway_status = Counter(
            "mqtt_adapter_gateway_status_messages_total",
            "Gateway status messages, by state.",
            ["state"],
            registry=registry,
        )
        self.connected = Gauge(
            "mqtt_adapter_mqtt_connected",
            "1 while connected to the MQTT broker.",
            registry=registry,
        )
        self.pending = Gauge(
            "mqtt_adapter_pending_messages",
            "MQTT messages waiting for Kafka confirmation before their acknowledgement.",
            registry=registry,
        )
        self.transform_duration = Histogram(
            "mqtt_adapter_transformation_duration_seconds",
            "Time to validate, transform and serialize one message.",
            buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
            registry=registry,
        )
        self.ack_latency = Histogram(
            "mqtt_adapter_ack_latency_seconds",
            "Time from receiving an MQTT message to acknowledging it after Kafka confirmed it.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


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
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None: ...

    def poll(self, timeout: float = 0) -> int: ...

    def flush(self, timeout: float = 30.0) -> int: ...


Acknowledge = Callable[[int, int], None]
EncodeRecords = Callable[[ReadingRecords], list[bytes]]


@dataclass(frozen=True, slots=True)
class AdapterOptions:
    limits: ValidationLimits = field(default_factory=ValidationLimits)
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    battery: BatteryModel = field(default_factory=BatteryModel)
    dedup_window_sec: float = 10.0
    dedup_max_entries: int = 100_000
    retry_backoff_sec: float = 1.0
    max_devices_tracked: int = 100_000
    max_gateways_tracked: int = 10_000


class _Pending:
    """One MQTT message (plus duplicates riding on it) awaiting its Kafka confirmations."""

    __slots__ = ("acks", "dedup_key", "received_mono", "records", "remaining", "report")

    def __init__(
        self,
        message: Incoming,
        remaining: int,
        dedup_key: tuple[str, int] | None,
        records: int,
        report: Callable[[_Pending, Any, Any], None],
    ) -> None:
        self.acks = [(message.mid, message.qos)]
        self.remaining = remaining
        self.received_mono = message.received_mono
        self.dedup_key = dedup_key
        self.records = records
        # The delivery callback of every record made from this message: one object per
        # message, not per record (the record itself comes back in the report).
        self.report = partial(report, self)


@dataclass(slots=True)
class _Retry:
    due: float
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None
    pending: _Pending


class Adapter:
    """Handles messages one by one; acknowledges each once Kafka has everything made from it."""

    def __init__(
        self,
        sink: RecordSink,
        dlq_topic: str,
        acknowledge: Acknowledge,
        options: AdapterOptions,
        metrics: AdapterMetrics,
        clock: Callable[[], float] = time.monotonic,
        encode_records: EncodeRecords | None = None,
    ) -> None:
        self._sink = sink
        self._encode_records = encode_records or (
            lambda records: [sink.serialize(record) for record in records.as_dicts()]
        )
        self._dlq_topic = dlq_topic
        self._acknowledge = acknowledge
        self._options = options
        self._metrics = metrics
        self._clock = clock
        self._dedup = DuplicateFilter(options.dedup_window_sec, options.dedup_max_entries)
        self._pending_by_key: dict[tuple[str, int], _Pending] = {}
        self._pending_mids: set[int] = set()  # QoS 1/2 packet ids not yet acknowledged
        self._in_flight = 0
        self._retries: deque[_Retry] = deque()
        self._devices: set[str] = set()
        self._gateways: dict[str, bool] = {}
        self._last_warning = float("-inf")
        self._last_failure_log = float("-inf")
        self._readings = {source: metrics.readings.labels(source.value) for source in SourceFormat}

    @property
    def in_flight(self) -> int:
        """MQTT messages not yet acknowledged because Kafka has not confirmed them."""
        return self._in_flight

    def handle(self, message: Incoming) -> None:
        started = time.perf_counter()
        self._metrics.received.inc()
        if message.qos and message.mid in self._pending_mids:
            # The broker resends unacknowledged messages with their packet id after a reconnect;
            # this one's first copy is still in flight and will acknowledge the id for both.
            self._metrics.redeliveries.inc()
            return
        result = parse_message(
            message.topic, message.payload, message.received_at, self._options.limits
        )
        if isinstance(result, Rejection):
            self._dead_letter(message, result.reason.value, result.message)
        elif isinstance(result, GatewayStatus):
            self._gateway_status(result)
            self._acknowledge(message.mid, message.qos)
        else:
            self._reading(message, result)
        self._metrics.transform_duration.observe(time.perf_counter() - started)

    def _reading(self, message: Incoming, reading: TagReading) -> None:
        sequence = reading.values.measurement_sequence
        dedup_key = None if sequence is None else (reading.tag_mac, sequence)
        if self._dedup.is_duplicate(reading.tag_mac, sequence, self._clock()):
            self._metrics.duplicates.inc()
            original = self._pending_by_key.get(dedup_key) if dedup_key else None
            if original is not None:  # acknowledge together with the copy being published
                original.acks.append((message.mid, message.qos))
                if message.qos:
                    self._pending_mids.add(message.mid)
            else:
                self._acknowledge(message.mid, message.qos)
            return
        try:
            records = reading_records(reading, self._options.thresholds, self._options.battery)
            values = self._encode_records(records)
        except Exception as exc:  # a bug, not bad input: keep the message for a person
            self._dedup.forget(reading.tag_mac, sequence)
            logger.exception("processing a reading failed; sending it to the dead-letter topic")
            self._dead_letter(message, INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
            return
        self._readings[reading.source].inc()
        self._note_device(reading.tag_mac)
        if not values:  # every value "not available": nothing to store
            self._acknowledge(message.mid, message.qos)
            return
        pending = _Pending(message, len(values), dedup_key, len(values), self._delivery_report)
        self._track(pending)
        topic = self._sink.topic
        for sensor, value in zip(records.sensors, values, strict=True):
            self._send(topic, sensor.device_id.encode(), value, None, pending)

    def _dead_letter(self, message: Incoming, reason: str, text: str) -> None:
        self._metrics.dead_letters.labels(reason).inc()
        now = self._clock()
        if now - self._last_warning >= 1.0:
            self._last_warning = now
            logger.warning("dead letter ({}) from {}: {}", reason, message.topic, text)
        else:
            logger.debug("dead letter ({}) from {}: {}", reason, message.topic, text)
        source = [("mqtt_topic", message.topic), ("received_at", message.received_at.isoformat())]
        headers = dead_letter_headers(
            reason, text, service=SERVICE_NAME, source=source, bare_names=True
        )
        pending = _Pending(message, 1, None, 0, self._delivery_report)
        self._track(pending)
        self._send(self._dlq_topic, message.topic.encode(), message.payload, headers, pending)

    def _track(self, pending: _Pending) -> None:
        self._in_flight += 1
        self._metrics.pending.set(self._in_flight)
        if pending.dedup_key is not None:
            self._pending_by_key[pending.dedup_key] = pending
        mid, qos = pending.acks[0]
        if qos:
            self._pending_mids.add(mid)

    def _send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None,
        pending: _Pending,
    ) -> None:
        try:
            self._sink.enqueue(topic, key, value, pending.report, headers)
        except Exception as exc:  # e.g. KafkaException from produce(): retry like a failure
            self._failed(topic, key, value, headers, pending, exc)

    def _delivery_report(self, pending: _Pending, error: Any, message: Any) -> None:
        """Kafka's verdict on one record of ``pending``; the record to retry comes back in
        ``message``."""
        if error is None:
            self._delivered(pending)
        else:
            self._failed(
                message.topic(), message.key(), message.value(), message.headers(), pending, error
            )

    def _failed(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None,
        pending: _Pending,
        error: object,
    ) -> None:
        self._metrics.delivery_failures.inc()
        now = self._clock()
        if now - self._last_failure_log >= 1.0:  # one line a second, not one per record
            self._last_failure_log = now
            logger.error("Kafka delivery to {} failed ({}); retrying", topic, error)
        due = self._clock() + self._options.retry_backoff_sec
        self._retries.append(_Retry(due, topic, key, value, headers, pending))

    def _delivered(self, pending: _Pending) -> None:
        pending.remaining -= 1
        if pending.remaining:
            return
        for mid, qos in pending.acks:
            self._pending_mids.discard(mid)
            self._acknowledge(mid, qos)
        self._metrics.records.inc(pending.records)
        self._metrics.ack_latency.observe(self._clock() - pending.received_mono)
        if pending.dedup_key is not None and self._pending_by_key.get(pending.dedup_key) is pending:
            del self._pending_by_key[pending.dedup_key]
        self._in_flight -= 1
        self._metrics.pending.set(self._in_flight)

    def retry_failed(self) -> int:
        """Produce again the records whose delivery failed and whose backoff has passed."""
        now = self._clock()
        retried = 0
        while self._retries and self._retries[0].due <= now:
            item = self._retries.popleft()
            self._send(item.topic, item.key, item.value, item.headers, item.pending)
            retried += 1
        return retried

    @property
    def retries_waiting(self) -> int:
        return len(self._retries)

    def _note_device(self, tag_mac: str) -> None:
        if tag_mac not in self._devices and len(self._devices) < self._options.max_devices_tracked:
            self._devices.add(tag_mac)
            self._metrics.devices_seen.set(len(self._devices))

    def _gateway_status(self, status: GatewayStatus) -> None:
        state = "online" if status.online else "offline"
        self._metrics.gateway_status.labels(state).inc()
        known = status.gateway_id in self._gateways
        if known or len(self._gateways) < self._options.max_gateways_tracked:
            if self._gateways.get(status.gateway_id) != status.online:
                logger.info("gateway {} is {}", status.gateway_id, state)
            self._gateways[status.gateway_id] = status.online
            self._metrics.gateways_online.set(sum(self._gateways.values()))


# --- I/O: the MQTT side -----------------------------------------------------------------------


class MqttSubscriber:
    """paho-mqtt 2.x client driven by the caller's loop (no network thread): MQTT 5, persistent
    session, QoS 1, manual acknowledgements, reconnection with backoff. Each message is handed
    to ``handle`` as it is read."""

    def __init__(
        self,
        settings: Settings,
        handle: Callable[[Incoming], None],
        metrics: AdapterMetrics,
        backoff: Backoff | None = None,
        read_batch: int = 1000,
    ) -> None:
        import paho.mqtt.client as mqtt

        self._settings = settings
        self._handle = handle
        self._metrics = metrics
        self._backoff = backoff or Backoff(initial=1.0, maximum=30.0)
        self._read_batch = read_batch
        self._topics = list(settings.adapter_mqtt_topics)
        self._received = 0
        self._attempts = 0
        self._next_attempt = 0.0
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=settings.adapter_mqtt_client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if settings.mqtt_username:
            password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
            client.username_pw_set(settings.mqtt_username, password)
        if settings.mqtt_tls_enabled:
            client.tls_set(ca_certs=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self.client = client

    def start(self) -> None:
        """Set the connection up; service() connects, and reconnects whenever it is lost."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self._settings.adapter_mqtt_session_expiry_sec
        properties.ReceiveMaximum = self._settings.adapter_mqtt_receive_maximum
        self.client.connect_async(
            self._settings.mqtt_broker_host,
            self._settings.mqtt_broker_port,
            keepalive=30,
            clean_start=False,
            properties=properties,
        )

    @property
    def connected(self) -> bool:
        return self.client.socket() is not None

    def service(self, timeout: float) -> int:
        """One round of MQTT I/O: (re)connect when due, wait up to ``timeout`` for the socket,
        read and handle what has arrived (up to ``read_batch`` messages), write what is queued
        (acknowledgements), keep the connection alive. Returns the messages handled."""
        client = self.client
        sock = client.socket()
        if sock is None:
            self._reconnect_if_due()
            return 0
        tls_pending = sock.pending() if hasattr(sock, "pending") else 0
        writers = [sock] if client.want_write() else []
        readable, _, _ = select.select([sock], writers, [], 0.0 if tls_pending else timeout)
        before = self._received
        if readable or tls_pending:
            # loop_read() reads one packet a call; keep reading while messages keep coming.
            last = -1
            while self._received != last and self._received - before < self._read_batch:
                last = self._received
                if client.loop_read() != 0:  # connection lost; paho closed it and reported it
                    return self._received - before
        if client.want_write() and client.loop_write() != 0:
            return self._received - before
        client.loop_misc()
        return self._received - before

    def _reconnect_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_attempt:
            return
        self._attempts += 1
        try:
            self.client.reconnect()
        except OSError as exc:
            delay = self._backoff.delay(self._attempts)
            logger.warning(
                "cannot connect to MQTT {}:{} ({}); retrying in {:.0f}s",
                self._settings.mqtt_broker_host,
                self._settings.mqtt_broker_port,
                exc,
                delay,
            )
            self._next_attempt = now + delay

    def acknowledge(self, mid: int, qos: int) -> None:
        self.client.ack(mid, qos)

    def stop(self) -> None:
        """Send what is queued (acknowledgements) and disconnect; the session stays."""
        if self.client.socket() is not None:
            self.client.loop_write()
        self.client.disconnect()

    def _on_connect(
        self, client: Any, _userdata: Any, flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            logger.error("MQTT connection refused: {}", reason)
            self._next_attempt = time.monotonic() + self._backoff.delay(max(1, self._attempts))
            return
        from paho.mqtt.subscribeoptions import SubscribeOptions

        self._attempts = 0
        self._metrics.connected.set(1)
        logger.info(
            "connected to MQTT {}:{} (session present: {}); subscribing to {}",
            self._settings.mqtt_broker_host,
            self._settings.mqtt_broker_port,
            flags.session_present,
            self._topics,
        )
        client.subscribe([(topic, SubscribeOptions(qos=1)) for topic in self._topics])

    def _on_subscribe(
        self, _client: Any, _userdata: Any, _mid: int, reasons: Any, _props: Any
    ) -> None:
        for topic, reason in zip(self._topics, reasons, strict=False):
            if reason.is_failure:
                logger.error("subscription to {} refused: {}", topic, reason)

    def _on_disconnect(
        self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self._metrics.connected.set(0)
        # Reconnect after a short pause rather than at once, and with backoff if it keeps failing.
        self._next_attempt = time.monotonic() + self._backoff.delay(max(1, self._attempts))
        logger.warning("disconnected from MQTT ({}); reconnecting with backoff", reason)

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        self._received += 1
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = bytes(message._topic).decode("utf-8", "replace")
        self._handle(
            Incoming(
                topic=topic,
                payload=bytes(message.payload),
                mid=message.mid,
                qos=message.qos,
                received_at=datetime.now(UTC),
                received_mono=time.monotonic(),
            )
        )


# --- the loop and main() ------------------------------------------------------------------------


class MessageSource(Protocol):
    """What run() needs of MqttSubscriber."""

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


def sample_records() -> ReadingRecords:
    """Records of one fixed reading (the official 'valid' vector), to check an encoder on."""
    from iot_pipeline.adapter.validation import TimestampSource
    from iot_pipeline.ruuvi import decode_hex

    reading = TagReading(
        source=SourceFormat.ESP32_FIRMWARE,
        tag_mac="CB:B8:33:4C:88:4F",
        gateway_id="sample-gw",
        gateway_mac="24:0A:C4:12:34:56",
        rssi=-67,
        timestamp=datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC),
        timestamp_source=TimestampSource.PAYLOAD,
        values=decode_hex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"),
        raw="0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F",
    )
    return reading_records(reading, {"temperature": Threshold(high=20.0)})


def records_encoder(
    serialize: Callable[[Mapping[str, Any]], bytes], schema_str: str
) -> EncodeRecords:
    """Encodes a reading's records: the fast group encoder when it writes exactly what
    ``serialize`` (AvroSerializer, which also fetches the schema id) writes for the sample
    reading, otherwise ``serialize`` record by record."""
    sample = sample_records()
    encoder = verified_reading_encoder(serialize, schema_str, sample.as_dicts())
    if encoder is None:
        return lambda records: [serialize(record) for record in records.as_dicts()]
    expected = [serialize(record) for record in sample.as_dicts()]
    if encoder.encode_group(sample.shared, sample.sensors) != expected:
        logger.warning("fast group encoder differs from AvroSerializer; using AvroSerializer")
        return lambda records: [serialize(record) for record in records.as_dicts()]
    return lambda records: encoder.encode_group(records.shared, records.sensors)


def build_options(settings: Settings) -> AdapterOptions:
    """The adapter's options from the settings (SettingsError naming the variable if invalid)."""
    unknown = sorted(set(settings.adapter_anomaly_thresholds) - set(SENSOR_NAMES))
    if unknown:
        raise SettingsError(
            f"ADAPTER_ANOMALY_THRESHOLDS: unknown sensors {unknown}; known: {list(SENSOR_NAMES)}"
        )
    if settings.adapter_battery_full_volts <= settings.adapter_battery_empty_volts:
        raise SettingsError("ADAPTER_BATTERY_FULL_VOLTS must be above ADAPTER_BATTERY_EMPTY_VOLTS")
    return AdapterOptions(
        limits=ValidationLimits(
            max_payload_bytes=settings.adapter_max_payload_bytes,
            max_future=timedelta(seconds=settings.adapter_max_future_sec),
            max_past=timedelta(seconds=settings.adapter_max_past_sec),
            status_topic_prefix=settings.adapter_status_topic_prefix,
        ),
        thresholds={
            sensor: Threshold(low, high)
            for sensor, (low, high) in settings.adapter_anomaly_thresholds.items()
        },
        battery=BatteryModel(
            settings.adapter_battery_empty_volts, settings.adapter_battery_full_volts
        ),
        dedup_window_sec=settings.adapter_dedup_window_sec,
        dedup_max_entries=settings.adapter_dedup_max_entries,
    )


def main() -> int:
    try:
        settings = load_settings()
        options = build_options(settings)
    except SettingsError as error:
        print(error)
        return 2
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from iot_pipeline.kafka.config import admin_config
    from iot_pipeline.kafka.producer import AvroProducer
    from iot_pipeline.kafka.topics import ensure_topics, pipeline_topics
    from iot_pipeline.observability.logging import configure_logging
    from iot_pipeline.observability.metrics import serve_metrics
    from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema

    configure_logging(settings.log_level, settings.log_format, service=SERVICE_NAME)
    registry = CollectorRegistry()
    metrics = AdapterMetrics(registry)
    ensure_topics(AdminClient(admin_config(settings)), pipeline_topics(settings))
    schema_str = load_schema(READING_SCHEMA_FILE)
    producer = AvroProducer.create(
        settings,
        SchemaRegistryClient({"url": settings.schema_registry_url}),
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
    encode_records = records_encoder(producer.serialize, schema_str)
    serve_metrics(registry, settings.adapter_metrics_port)

    adapter: Adapter
    subscriber = MqttSubscriber(settings, lambda message: adapter.handle(message), metrics)
    adapter = Adapter(
        producer,
        settings.kafka_dlq_topic_name,
        subscriber.acknowledge,
        options,
        metrics,
        encode_records=encode_records,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    subscriber.start()
    logger.info(
        "adapter running: MQTT {} -> Kafka {} (dead letters: {})",
        settings.adapter_mqtt_topics,
        settings.kafka_topic_name,
        settings.kafka_dlq_topic_name,
    )
    try:
        run(adapter, subscriber, producer, stop)
    finally:
        unconfirmed = drain(adapter, producer)
        with contextlib.suppress(Exception):
            subscriber.stop()
    if unconfirmed:
        logger.error(
            "{} MQTT messages unconfirmed by Kafka at exit; the broker will redeliver them",
            unconfirmed,
        )
        return 1
    logger.info("stopped cleanly; every processed message is in Kafka and acknowledged")
    return 0
