"""The adapter's pipeline for one MQTT message: validate -> Ruuvi Air's E1-over-6 rule -> drop
duplicates -> records -> produce, or a dead letter with the reason; gateway status messages
update the fleet.

A measurement is identified by (tag MAC, ``sensors.measurement_key``): the measurement sequence
(Format 5's 16 bits, Format 6's 8, E1's 24); Format 3 has none, so the CRC-32 of its payload
(a tag repeats the same payload until it measures again); a Format 3 reading known only by its
decoded fields is never a duplicate.

Each message is handled as it arrives, on the one thread that also reads MQTT (see service);
the ledger acknowledges it once Kafka has confirmed everything made from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from loguru import logger
from prometheus_client import CollectorRegistry, Counter

from iot_pipeline.adapter.dedup import DuplicateFilter
from iot_pipeline.adapter.delivery import Delivery, DeliveryMetrics, RecordSink
from iot_pipeline.adapter.encoding import EncodeRecords, serialize_each
from iot_pipeline.adapter.fleet import Fleet, FleetMetrics
from iot_pipeline.adapter.incoming import Acknowledge, Incoming
from iot_pipeline.adapter.ledger import AckLedger, LedgerMetrics
from iot_pipeline.adapter.options import AdapterOptions
from iot_pipeline.adapter.plain_metrics import PlainCounter, PlainHistogram
from iot_pipeline.adapter.reasons import Rejection
from iot_pipeline.adapter.record_writer import general_records, record_writer
from iot_pipeline.adapter.transform import RecordMaker
from iot_pipeline.adapter.validation import GatewayStatus, SourceFormat, TagReading, parse_message
from iot_pipeline.kafka.dead_letter import dead_letter_headers
from iot_pipeline.ruuvi.preference import FORMAT_6, FORMAT_E1, AirFormatPreference
from iot_pipeline.ruuvi.sensors import measurement_key

SERVICE_NAME = "ruuvitag-adapter"
_AIR_FORMATS = frozenset({FORMAT_6, FORMAT_E1})
_FORMAT_3 = 3
INTERNAL_ERROR = "internal_error"  # DLQ reason when processing a message failed (a bug)


class AdapterMetrics:
    """The adapter's metrics; labels are bounded (reason codes, sources, states: no ids). The
    pipeline's own are declared here, the ledger's, delivery's and fleet's in their modules."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ledger = LedgerMetrics(registry)
        self.delivery = DeliveryMetrics(registry)
        self.fleet = FleetMetrics(registry)
        # Updated for every message: plain numbers read when scraped (see plain_metrics).
        self.received = PlainCounter(
            "mqtt_adapter_messages_received_total", "MQTT messages received.", registry=registry
        )
        self.readings = PlainCounter(
            "mqtt_adapter_readings_total",
            "Valid RuuviTag readings, by payload family.",
            ["source"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "mqtt_adapter_dead_letters_total",
            "Messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.duplicates = Counter(
            "mqtt_adapter_duplicates_total",
            "Readings dropped as already published through another gateway.",
            registry=registry,
        )
        self.format6_dropped = Counter(
            "mqtt_adapter_format6_dropped_total",
            "Ruuvi Air Format 6 readings dropped because the tag is heard in E1 (the spec's rule).",
            registry=registry,
        )
        self.transform_duration = PlainHistogram(
            "mqtt_adapter_transformation_duration_seconds",
            "Time to validate, transform and serialize one message.",
            buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
            registry=registry,
        )


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
        self._encode_records = encode_records or serialize_each(sink.serialize)
        self._dlq_topic = dlq_topic
        self._acknowledge = acknowledge
        self._options = options
        self._metrics = metrics
        self._clock = clock
        self._dedup = DuplicateFilter(options.dedup_window_sec, options.dedup_max_entries)
        self._air = AirFormatPreference(options.air_format_hold_sec, options.max_devices_tracked)
        self._delivery = Delivery(sink, metrics.delivery, clock, options.retry_backoff_sec)
        self._ledger = AckLedger(acknowledge, metrics.ledger, clock, self._delivery.failed)
        self._fleet = Fleet(
            metrics.fleet, options.max_devices_tracked, options.max_gateways_tracked
        )
        self._last_warning = float("-inf")
        self._readings = {source: metrics.readings.labels(source.value) for source in SourceFormat}
        self._make_records = RecordMaker(
            options.thresholds, options.battery, options.derived_values
        )
        # Formats 3 and 5 with each tag's constant fields encoded once, when verified to write
        # the general path's bytes; None for other readings (and encoders), which go the
        # general way.
        self._write_records = record_writer(self._make_records, self._encode_records)

    @property
    def in_flight(self) -> int:
        """MQTT messages not yet acknowledged because Kafka has not confirmed them."""
        return self._ledger.in_flight

    @property
    def retries_waiting(self) -> int:
        return self._delivery.retries_waiting

    def retry_failed(self) -> int:
        """Produce again the records whose delivery failed and whose backoff has passed."""
        return self._delivery.retry_failed()

    def handle(self, message: Incoming) -> None:
        started = time.perf_counter()
        self._metrics.received.inc()
        if self._ledger.is_redelivery(message):
            return
        result = parse_message(
            message.topic, message.payload, message.received_at, self._options.limits
        )
        if isinstance(result, Rejection):
            self._dead_letter(message, result.reason.value, result.message)
        elif isinstance(result, GatewayStatus):
            self._fleet.gateway_status(result)
            self._acknowledge(message.mid, message.qos)
        else:
            self._reading(message, result)
        self._metrics.transform_duration.observe(time.perf_counter() - started)

    def _reading(self, message: Incoming, reading: TagReading) -> None:
        measured = reading.values
        data_format = measured.data_format
        if data_format in _AIR_FORMATS and not self._air.accept(
            reading.tag_mac, data_format, self._clock()
        ):
            self._metrics.format6_dropped.inc()  # the tag's E1 carries the same measurement
            self._acknowledge(message.mid, message.qos)
            return
        if data_format == _FORMAT_3:
            sequence = measurement_key(measured, reading.payload)
        else:
            sequence = measured.measurement_sequence
        dedup_key = None if sequence is None else (reading.tag_mac, sequence)
        if self._dedup.is_duplicate(reading.tag_mac, sequence, self._clock()):
            self._metrics.duplicates.inc()
            # Acknowledged together with the copy being published, or at once if it is done.
            if not self._ledger.ride(dedup_key, message):
                self._acknowledge(message.mid, message.qos)
            return
        try:
            keyed = self._write_records(reading) if self._write_records else None
            if keyed is None:
                keyed = general_records(self._make_records, self._encode_records, reading)
        except Exception as exc:  # a bug, not bad input: keep the message for a person
            self._dedup.forget(reading.tag_mac, sequence)
            logger.exception("processing a reading failed; sending it to the dead-letter topic")
            self._dead_letter(message, INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
            return
        self._readings[reading.source].inc()
        self._fleet.note_device(reading.tag_mac)
        if not keyed:  # every value "not available": nothing to store
            self._acknowledge(message.mid, message.qos)
            return
        pending = self._ledger.open(message, len(keyed), dedup_key, len(keyed))
        self._delivery.send_batch(self._sink.topic, keyed, pending)

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
        pending = self._ledger.open(message, 1, None, 0)
        self._delivery.send(
            self._dlq_topic, message.topic.encode(), message.payload, headers, pending
        )
