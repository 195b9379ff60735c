"""The sink's fast decoder agrees with confluent-kafka's AvroDeserializer on the real registry."""

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

pytestmark = pytest.mark.e2e


def test_fast_decoder_equals_avro_deserializer() -> None:
    client = SchemaRegistryClient({"url": load_settings().schema_registry_url})
    context = SerializationContext(f"test-decoding-{uuid.uuid4().hex[:8]}", MessageField.VALUE)
    serializer = AvroSerializer(client, load_schema("iot_sensor_reading.avsc"))
    records = [
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
    fast = FramedAvroDecoder(client)
    reference = AvroDeserializer(client)
    for record in records:
        data = serializer(record, context)
        assert data is not None
        assert fast.decode(data) == reference(data, context)
