"""Encoding a reading's records for Kafka: the fast group encoder, used only once it is shown
to write exactly what the registry-aware AvroSerializer writes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from loguru import logger

from iot_pipeline.adapter.transform import ReadingRecords, Threshold, reading_records
from iot_pipeline.adapter.validation import SourceFormat, TagReading, TimestampSource
from iot_pipeline.ruuvi import decode_hex
from iot_pipeline.schemas.reading_encoder import ReadingEncoder, verified_reading_encoder

EncodeRecords = Callable[[ReadingRecords], list[bytes]]


def sample_reading() -> TagReading:
    """One fixed reading (the official 'valid' vector), to check encoders on."""
    return TagReading(
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


def sample_records() -> ReadingRecords:
    """Records of sample_reading(), to check an encoder on."""
    return reading_records(sample_reading(), {"temperature": Threshold(high=20.0)})


def serialize_each(serialize: Callable[[Mapping[str, Any]], bytes]) -> EncodeRecords:
    """Encodes a reading's records one by one with ``serialize``."""
    return lambda records: [serialize(record) for record in records.as_dicts()]


def records_encoder(
    serialize: Callable[[Mapping[str, Any]], bytes], schema_str: str
) -> EncodeRecords:
    """Encodes a reading's records: the fast group encoder when it writes exactly what
    ``serialize`` (AvroSerializer, which also fetches the schema id) writes for the sample
    reading, otherwise ``serialize`` record by record."""
    sample = sample_records()
    encoder = verified_reading_encoder(serialize, schema_str, sample.as_dicts())
    if encoder is None:
        return serialize_each(serialize)
    expected = [serialize(record) for record in sample.as_dicts()]
    if encoder.encode_group(sample.shared, sample.sensors) != expected:
        logger.warning("fast group encoder differs from AvroSerializer; using AvroSerializer")
        return serialize_each(serialize)
    return GroupEncode(encoder)


class GroupEncode:
    """EncodeRecords with the verified fast encoder (record_writer builds on its encoder)."""

    def __init__(self, encoder: ReadingEncoder) -> None:
        self.reading_encoder = encoder

    def __call__(self, records: ReadingRecords) -> list[bytes]:
        return self.reading_encoder.encode_group(records.shared, records.sensors)
