import json

import fastavro
import pytest

from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema, value_subject


def test_reading_schema_parses_and_has_the_contract_fields():
    schema = json.loads(load_schema(READING_SCHEMA_FILE))
    fastavro.parse_schema(schema)
    names = [field["name"] for field in schema["fields"]]
    for required in (
        "device_id",
        "device_type",
        "timestamp",
        "value",
        "unit",
        "location",
        "battery_level",
        "signal_strength",
        "firmware_version",
        "is_anomaly",
        "metadata",
        "tag_mac",
        "gateway_id",
        "rssi",
        "measurement_sequence",
    ):
        assert required in names
    timestamp = next(f for f in schema["fields"] if f["name"] == "timestamp")
    assert timestamp["type"]["logicalType"] == "timestamp-millis"
    # Optional context fields have defaults, so adding them kept the schema backward compatible.
    for optional in ("tag_mac", "gateway_id", "rssi", "measurement_sequence"):
        field = next(f for f in schema["fields"] if f["name"] == optional)
        assert field["default"] is None


@pytest.mark.parametrize(
    ("strategy", "subject"),
    [
        ("TopicNameStrategy", "iot-sensor-data-value"),
        ("RecordNameStrategy", "io.iotpipeline.IoTSensorReading"),
        ("TopicRecordNameStrategy", "iot-sensor-data-io.iotpipeline.IoTSensorReading"),
    ],
)
def test_value_subject_per_strategy(strategy, subject):
    assert value_subject(strategy, "iot-sensor-data", load_schema(READING_SCHEMA_FILE)) == subject
