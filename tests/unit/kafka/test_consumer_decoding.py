import io
import json
import struct
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import SerializationError

from iot_pipeline.kafka.consumer import FramedAvroDecoder
from iot_pipeline.schemas.registry import load_schema

SCHEMA = load_schema("iot_sensor_reading.avsc")


class Registry:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def get_schema(self, schema_id: int) -> Schema:
        self.calls.append(schema_id)
        if schema_id == 7:
            return Schema(SCHEMA, "AVRO")
        if schema_id == 8:
            return Schema('{"type": "object"}', "JSON")
        raise SchemaRegistryError(404, 40403, "Schema not found")


def framed(record: dict[str, Any], schema_id: int = 7) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(json.loads(SCHEMA)), record)
    return b"\x00" + struct.pack(">I", schema_id) + body.getvalue()


RECORD = {
    "device_id": "cb:b8:33:4c:88:4f_temperature",
    "device_type": "temperature_sensor",
    "timestamp": datetime(2026, 11, 23, 12, 0, 0, 123000, tzinfo=UTC),
    "value": 21.5,
    "unit": "°C",
    "metadata": {"a": "b"},
    "rssi": -70,
}


def test_decodes_and_fetches_each_schema_once() -> None:
    registry = Registry()
    decoder = FramedAvroDecoder(registry)
    first = decoder.decode(framed(RECORD))
    second = decoder.decode(framed({**RECORD, "value": 1.0}))
    assert registry.calls == [7]
    assert first["timestamp"] == RECORD["timestamp"]
    assert first["device_id"] == RECORD["device_id"] and first["rssi"] == -70
    assert first["metadata"] == {"a": "b"} and first["location"] is None
    assert first["is_anomaly"] is False
    assert second["value"] == 1.0


@pytest.mark.parametrize(
    "value", [b"", b"\x00\x00", b"{json}", b"\x01\x00\x00\x00\x07\x02"], ids=repr
)
def test_unframed_values_are_rejected(value: bytes) -> None:
    with pytest.raises(SerializationError, match="not Confluent-framed"):
        FramedAvroDecoder(Registry()).decode(value)


def test_truncated_body_is_rejected() -> None:
    with pytest.raises(SerializationError, match="does not decode"):
        FramedAvroDecoder(Registry()).decode(framed(RECORD)[:12])


def test_unknown_schema_id_raises_the_registry_error() -> None:
    with pytest.raises(SchemaRegistryError) as info:
        FramedAvroDecoder(Registry()).decode(framed(RECORD, schema_id=9))
    assert info.value.http_status_code == 404


def test_non_avro_schema_is_rejected() -> None:
    with pytest.raises(SerializationError, match="not Avro"):
        FramedAvroDecoder(Registry()).decode(framed(RECORD, schema_id=8))
