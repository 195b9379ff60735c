import io
import json

import fastavro
import pytest

from iot_pipeline.alerts.codec import ALERT_SCHEMA_FILE, event_from_record, event_to_record
from iot_pipeline.alerts.model import AlertEvent, EventType, Rule, Severity
from iot_pipeline.schemas import load_schema


def sample(**overrides) -> AlertEvent:
    fields = {
        "event_type": EventType.FIRED,
        "alert_id": "dev|statistical|1795435200123",
        "device_id": "dev",
        "device_type": "temperature_sensor",
        "rule": Rule.STATISTICAL,
        "severity": Severity.INFO,
        "value": 4.9,
        "threshold": 4.0,
        "band_low": 3.66,
        "band_high": 4.54,
        "unit": "°C",
        "first_seen_ms": 1_795_435_200_123,
        "event_time_ms": 1_795_435_201_000,
        "message": "statistical on dev: value 4.9 outside band [3.66, 4.54]",
    }
    fields.update(overrides)
    return AlertEvent(**fields)


def avro_round_trip(record):
    schema = fastavro.parse_schema(json.loads(load_schema(ALERT_SCHEMA_FILE)))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record)
    buffer.seek(0)
    return fastavro.schemaless_reader(buffer, schema)


@pytest.mark.parametrize(
    "event",
    [
        sample(),
        sample(
            event_type=EventType.RESOLVED,
            rule=Rule.SILENCE,
            severity=Severity.CRITICAL,
            value=None,
            threshold=120.0,
            band_low=None,
            band_high=None,
            unit="s",
        ),
    ],
)
def test_events_survive_the_avro_schema_exactly(event):
    assert event_from_record(avro_round_trip(event_to_record(event))) == event


def test_schema_identity():
    schema = json.loads(load_schema(ALERT_SCHEMA_FILE))
    assert (schema["namespace"], schema["name"]) == ("io.iotpipeline", "AlertEvent")
    fields = {f["name"] for f in schema["fields"]}
    assert {"device_id", "rule", "severity", "value", "threshold", "first_seen"} <= fields
    enums = {
        f["name"]: f["type"]["symbols"]
        for f in schema["fields"]
        if isinstance(f["type"], dict) and f["type"].get("type") == "enum"
    }
    assert enums == {
        "event_type": [e.value for e in EventType],
        "severity": [s.value for s in Severity],
    }


def test_unknown_rule_is_rejected():
    record = event_to_record(sample())
    record["rule"] = "gremlins"
    with pytest.raises(ValueError):
        event_from_record(record)
