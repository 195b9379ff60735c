from datetime import UTC, datetime, timedelta, timezone

import pytest

from iot_pipeline.alerts.model import (
    InvalidReading,
    Reading,
    Rule,
    alert_id,
    alert_key,
    reading_from_record,
)


def record(**overrides):
    base = {
        "device_id": "cb:b8:33:4c:88:4f_temperature",
        "device_type": "temperature_sensor",
        "timestamp": datetime(2026, 11, 23, 12, 0, 0, 123000, tzinfo=UTC),
        "value": 21.5,
        "unit": "°C",
        "tag_mac": "CB:B8:33:4C:88:4F",
        "measurement_sequence": 42,
    }
    base.update(overrides)
    return base


def test_reading_from_avro_record():
    assert reading_from_record(record()) == Reading(
        device_id="cb:b8:33:4c:88:4f_temperature",
        device_type="temperature_sensor",
        timestamp_ms=1_795_435_200_123,
        value=21.5,
        unit="°C",
        tag_mac="CB:B8:33:4C:88:4F",
        measurement_sequence=42,
    )


def test_timestamp_conversions_are_exact():
    plus2 = timezone(timedelta(hours=2))
    aware = datetime(2026, 11, 23, 14, 0, 0, 123000, tzinfo=plus2)
    assert reading_from_record(record(timestamp=aware)).timestamp_ms == 1_795_435_200_123
    naive = datetime(2026, 11, 23, 12, 0, 0, 123000)  # treated as UTC
    assert reading_from_record(record(timestamp=naive)).timestamp_ms == 1_795_435_200_123
    assert reading_from_record(record(timestamp=5)).timestamp_ms == 5


def test_simulator_record_without_ruuvi_fields():
    r = reading_from_record(
        {
            "device_id": "sim-1",
            "device_type": "pressure",
            "timestamp": 1000,
            "value": 7,
            "unit": "hPa",
        }
    )
    assert (r.value, r.tag_mac, r.measurement_sequence) == (7.0, None, None)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"device_id": ""}, "device_id"),
        ({"device_id": None}, "device_id"),
        ({"device_type": None}, "device_type"),
        ({"value": None}, "not a number"),
        ({"value": True}, "not a number"),
        ({"value": "1.0"}, "not a number"),
        ({"value": float("nan")}, "not finite"),
        ({"value": float("inf")}, "not finite"),
        ({"timestamp": "2026-11-23"}, "timestamp"),
        ({"timestamp": None}, "timestamp"),
        ({"measurement_sequence": -1}, "measurement_sequence"),
        ({"measurement_sequence": 1.5}, "measurement_sequence"),
    ],
)
def test_invalid_records_give_a_clear_reason(overrides, reason):
    with pytest.raises(InvalidReading, match=reason):
        reading_from_record(record(**overrides))


def test_empty_tag_mac_is_none():
    assert reading_from_record(record(tag_mac="")).tag_mac is None


def test_keys_and_ids():
    assert alert_key("dev", Rule.STUCK) == "dev|stuck"
    assert alert_key("dev", "silence") == "dev|silence"
    assert alert_id("dev", Rule.SILENCE, 12) == "dev|silence|12"
    with pytest.raises(ValueError):
        alert_key("dev", "no_such_rule")
