"""The sink's fast decoders agree with confluent-kafka's AvroDeserializer on the real registry: the
fastavro decoder decodes the same records, the transcoding decoder recognises the registry's copy
of the packaged schema and gives the rows of fastavro + encode_reading."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from iot_pipeline.config import load_settings
from iot_pipeline.kafka.consumer import FramedAvroDecoder
from iot_pipeline.schemas.registry import load_schema
from iot_pipeline.sink.decoding import TranscodedReading, TranscodingDecoder, encoded_row
from iot_pipeline.storage.reading_copy import encode_reading

pytestmark = pytest.mark.e2e


RECORDS = [
    {
        "device_id": "cb:b8:33:4c:88:4f_temperature",
        "device_type": "temperature_sensor",
        "timestamp": datetime(2026, 11, 23, 12, 0, 0, 123000, tzinfo=UTC),
        "value": 21.5,
        "unit": "°C",
    },
    {
        "device_id": "d2",
        "device_type": "humidity_sensor",
        "timestamp": datetime(2026, 1, 1, tzinfo=UTC),
        "value": -0.0,
        "unit": "%",
        "location": {"latitude": 60.1, "longitude": 24.9, "building": "A", "floor": 2},
        "battery_level": 55.5,
        "is_anomaly": True,
        "metadata": {"k": "v"},
        "tag_mac": "CB:B8:33:4C:88:4F",
        "gateway_id": "gw",
        "rssi": -80,
        "measurement_sequence": 65535,
    },
]


def _client_and_values() -> tuple[SchemaRegistryClient, SerializationContext, list[bytes]]:
    """The records serialized as a producer does (registering the schema on a new subject)."""
    client = SchemaRegistryClient({"url": load_settings().schema_registry_url})
    context = SerializationContext(f"test-decoding-{uuid.uuid4().hex[:8]}", MessageField.VALUE)
    serializer = AvroSerializer(client, load_schema("iot_sensor_reading.avsc"))
    values: list[bytes] = []
    for record in RECORDS:
        value = serializer(record, context)
        assert value is not None
        values.append(value)
    return client, context, values


def test_fast_decoder_equals_avro_deserializer() -> None:
    client, context, values = _client_and_values()
    fast = FramedAvroDecoder(client)
    reference = AvroDeserializer(client)
    for data in values:
        assert fast.decode(data) == reference(data, context)


def test_transcoding_decoder_gives_the_rows_of_the_general_path() -> None:
    client, _, values = _client_and_values()
    transcoding = TranscodingDecoder(client)
    general = FramedAvroDecoder(client, millis_as_int=True)
    for data in values:
        decoded = transcoding.decode(data)
        assert type(decoded) is TranscodedReading  # the registry's schema text is recognised
        expected = encode_reading(general.decode(data))
        assert encoded_row(decoded)[::2] == (expected.data, expected.at)
