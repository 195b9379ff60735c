import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from iot_pipeline.storage.rows import (
    InvalidReading,
    copy_field,
    copy_line,
    reading_timestamp,
    reading_to_row,
)
from iot_pipeline.storage.schema import WRITE_COLUMNS

TS = datetime(2026, 11, 23, 12, 0, 0, 123000, tzinfo=UTC)


def full_record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "device_id": "cb:b8:33:4c:88:4f_temperature",
        "device_type": "temperature_sensor",
        "timestamp": TS,
        "value": 21.5,
        "unit": "°C",
        "location": {
            "latitude": 60.17,
            "longitude": 24.94,
            "building": "A",
            "floor": 3,
            "zone": "kitchen",
        },
        "battery_level": 87.5,
        "signal_strength": -67.0,
        "firmware_version": "1.2.3",
        "is_anomaly": True,
        "metadata": {"room": "kitchen"},
        "tag_mac": "CB:B8:33:4C:88:4F",
        "gateway_id": "esp32-01",
        "rssi": -67,
        "measurement_sequence": 65535,
    }
    record.update(changes)
    return record


def as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(WRITE_COLUMNS, row, strict=True))


def test_full_record_maps_every_column() -> None:
    row = as_dict(reading_to_row(full_record()))
    assert row == {
        "device_id": "cb:b8:33:4c:88:4f_temperature",
        "device_type": "temperature_sensor",
        "timestamp": TS,
        "value": 21.5,
        "unit": "°C",
        "latitude": 60.17,
        "longitude": 24.94,
        "location_building": "A",
        "location_floor": 3,
        "location_zone": "kitchen",
        "battery_level": 87.5,
        "signal_strength": -67.0,
        "firmware_version": "1.2.3",
        "is_anomaly": True,
        "device_metadata": {"room": "kitchen"},
        "tags": None,
        "tag_mac": "CB:B8:33:4C:88:4F",
        "gateway_id": "esp32-01",
        "rssi": -67,
        "measurement_sequence": 65535,
    }


def test_minimal_record_defaults_to_nulls() -> None:
    record = {
        "device_id": "d1",
        "device_type": "humidity_sensor",
        "timestamp": TS,
        "value": None,
        "unit": "%",
    }
    row = as_dict(reading_to_row(record))
    assert row["is_anomaly"] is False
    assert row["device_metadata"] is None
    assert row["latitude"] is None and row["location_floor"] is None
    assert row["value"] is None


def test_integer_value_becomes_float_and_empty_metadata_null() -> None:
    row = as_dict(reading_to_row(full_record(value=101325, metadata={})))
    assert row["value"] == 101325.0 and isinstance(row["value"], float)
    assert row["device_metadata"] is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"device_id": None}, "device_id is missing"),
        ({"device_id": "  "}, "device_id is empty"),
        ({"device_type": 5}, "device_type is not a string"),
        ({"unit": None}, "unit is missing"),
        ({"device_id": "a\x00b"}, "NUL"),
        ({"value": "21.5"}, "value is not a number"),
        ({"value": True}, "value is not a number"),
        ({"timestamp": None}, "timestamp is missing"),
        ({"timestamp": "2026-01-01"}, "timestamp is not a time"),
        ({"timestamp": datetime(2026, 1, 1)}, "no time zone"),
        ({"timestamp": 10**20}, "out of range"),
        ({"rssi": 2**31}, "does not fit"),
        ({"rssi": 1.5}, "rssi is not an integer"),
        ({"location": "here"}, "location is not a record"),
        ({"location": {"floor": "3"}}, "location.floor is not an integer"),
        ({"metadata": ["a"]}, "metadata is not a map"),
        ({"metadata": {"a": 1}}, "must be strings"),
        ({"metadata": {"a": "\x00"}}, "JSONB"),
        ({"is_anomaly": "yes"}, "is_anomaly is not a boolean"),
    ],
)
def test_invalid_records_name_the_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidReading) as info:
        reading_to_row(full_record(**changes))
    assert reason in info.value.reason


def test_timestamp_forms() -> None:
    assert reading_timestamp(1_700_000_000_123) == datetime(
        2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC
    )
    helsinki = timezone(timedelta(hours=2))
    converted = reading_timestamp(datetime(2026, 1, 1, 14, 0, tzinfo=helsinki))
    assert converted == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert converted.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "\\N"),
        (True, "t"),
        (False, "f"),
        (-67, "-67"),
        (21.5, "21.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (TS, "2026-11-23T12:00:00.123000+00:00"),
        ("tab\there\nnew\\line\r", "tab\\there\\nnew\\\\line\\r"),
        ({"k": 'v"\t'}, r'{"k":"v\\"\\t"}'),
        (["a", 'b"c', None], '{"a","b\\\\"c",NULL}'),
    ],
)
def test_copy_field_text_format(value: Any, text: str) -> None:
    assert copy_field(value) == text


def test_copy_line_has_one_field_per_column() -> None:
    line = copy_line(reading_to_row(full_record()))
    assert line.endswith("\n")
    assert len(line[:-1].split("\t")) == len(WRITE_COLUMNS)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"value": math.nan, "signal_strength": -math.inf},
        {"firmware_version": "a\tb\nc\\d\re", "metadata": {"k": "tab\there"}},
        {"location": None, "metadata": {}, "rssi": None, "is_anomaly": False},
    ],
)
def test_copy_line_per_column_formatters_match_the_generic_one(changes: dict[str, Any]) -> None:
    row = reading_to_row(full_record(**changes))
    assert copy_line(row) == "\t".join(copy_field(v) for v in row) + "\n"
