"""Schema evolution against the real registry, under the configured BACKWARD compatibility."""

from __future__ import annotations

import json

import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from iot_pipeline.schemas import READING_SCHEMA_FILE, ensure_value_schema, load_schema

pytestmark = pytest.mark.integration

RECORD = {
    "device_id": "dev-1",
    "device_type": "temperature",
    "timestamp": 1_790_000_000_000,
    "value": 21.5,
    "unit": "°C",
    "location": None,
    "battery_level": None,
    "signal_strength": None,
    "firmware_version": None,
    "is_anomaly": False,
    "metadata": {},
}


def evolved(schema_str: str, change) -> str:
    schema = json.loads(schema_str)
    change(schema["fields"])
    return json.dumps(schema)


def add_optional_field(fields):
    fields.append({"name": "calibration_offset", "type": ["null", "double"], "default": None})


def add_required_field(fields):
    fields.append({"name": "room", "type": "string"})


def change_value_type(fields):
    next(f for f in fields if f["name"] == "value")["type"] = "string"


def remove_required_field(fields):
    fields[:] = [f for f in fields if f["name"] != "unit"]


@pytest.fixture
def topic(unique_name):
    return unique_name("schema")


@pytest.fixture
def registered(schema_registry_client, topic):
    schema_str = load_schema(READING_SCHEMA_FILE)
    schema_id = ensure_value_schema(schema_registry_client, topic, schema_str, "BACKWARD")
    yield schema_str, schema_id
    schema_registry_client.delete_subject(f"{topic}-value", permanent=False)


def test_registered_schema_is_fetched_by_id(schema_registry_client, registered):
    _, schema_id = registered
    fetched = schema_registry_client.get_schema(schema_id)
    assert json.loads(fetched.schema_str)["name"] == "IoTSensorReading"
    assert fetched.schema_type == "AVRO"


def test_registering_again_is_idempotent(schema_registry_client, registered, topic):
    schema_str, schema_id = registered
    assert ensure_value_schema(schema_registry_client, topic, schema_str, "BACKWARD") == schema_id
    assert schema_registry_client.get_compatibility(f"{topic}-value") == "BACKWARD"


def test_new_optional_field_is_accepted_and_old_readers_read_new_records(
    schema_registry_client, registered, topic
):
    schema_str, old_id = registered
    new_schema = evolved(schema_str, add_optional_field)
    new_id = ensure_value_schema(schema_registry_client, topic, new_schema, "BACKWARD")
    assert schema_registry_client.get_latest_version(f"{topic}-value").schema_id == new_id

    context = SerializationContext(topic, MessageField.VALUE)
    writer = AvroSerializer(
        schema_registry_client, new_schema, conf={"auto.register.schemas": False}
    )
    data = writer({**RECORD, "calibration_offset": 0.25}, context)
    # A consumer still on the old schema reads the new record; the new field is simply absent.
    old_reader = AvroDeserializer(schema_registry_client, schema_str)
    decoded = old_reader(data, context)
    assert decoded["device_id"] == "dev-1"
    assert "calibration_offset" not in decoded
    # And a new reader reads old records, with the default filled in. (The old writer names its
    # schema id: Apicurio's lookup-by-content only matches a subject's latest version.)
    old_data = AvroSerializer(
        schema_registry_client,
        schema_str,
        conf={"auto.register.schemas": False, "use.schema.id": old_id},
    )(RECORD, context)
    assert (
        AvroDeserializer(schema_registry_client, new_schema)(old_data, context)[
            "calibration_offset"
        ]
        is None
    )


@pytest.mark.parametrize("change", [add_required_field, change_value_type])
def test_incompatible_schema_is_rejected_with_a_clear_error(
    schema_registry_client, registered, topic, change
):
    schema_str, _ = registered
    incompatible = Schema(evolved(schema_str, change), "AVRO")
    assert schema_registry_client.test_compatibility(f"{topic}-value", incompatible) is False
    with pytest.raises(SchemaRegistryError) as raised:
        schema_registry_client.register_schema(f"{topic}-value", incompatible)
    assert raised.value.http_status_code == 409


def test_removing_a_field_without_default_is_rejected_under_full_compatibility(
    schema_registry_client, registered, topic
):
    # Under BACKWARD a reader may drop a field (it just ignores it); old readers, which need it
    # because it has no default, are what FULL protects as well.
    schema_str, _ = registered
    schema_registry_client.set_compatibility(subject_name=f"{topic}-value", level="FULL")
    removed = Schema(evolved(schema_str, remove_required_field), "AVRO")
    with pytest.raises(SchemaRegistryError) as raised:
        schema_registry_client.register_schema(f"{topic}-value", removed)
    assert raised.value.http_status_code == 409
