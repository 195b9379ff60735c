"""Readings of formats 3, 6 and E1 into per-sensor records: the new sensors and their units, the
calibration flag in metadata, derived values when switched on, all valid Avro records."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest

from iot_pipeline.adapter.encoding import records_encoder
from iot_pipeline.adapter.transform import (
    ALL_SENSOR_NAMES,
    MAX_RECORDS,
    Threshold,
    reading_records,
    to_records,
)
from iot_pipeline.adapter.validation import TagReading, parse_message
from iot_pipeline.ruuvi import formate1
from iot_pipeline.ruuvi.derived import derived_values
from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema

VECTORS_DIR = Path(__file__).parents[2] / "vectors"
CONTRACT = json.loads((VECTORS_DIR / "esp32_gateway_message.json").read_text(encoding="utf-8"))
RECEIVED = datetime(2026, 11, 23, 13, 37, 1, tzinfo=UTC)
SCHEMA_STR = load_schema(READING_SCHEMA_FILE)
SCHEMA = fastavro.parse_schema(json.loads(SCHEMA_STR))


def _reading(key: str, **changes: Any) -> TagReading:
    payload = {**CONTRACT["payloads_by_format"][key], **changes}
    result = parse_message(CONTRACT["topic"], json.dumps(payload).encode(), RECEIVED)
    assert isinstance(result, TagReading), result
    return result


def _by_sensor(records: list[dict[str, Any]]) -> dict[str, tuple[float, str, str]]:
    return {
        r["device_id"].split("_", 1)[1]: (r["value"], r["unit"], r["device_type"]) for r in records
    }


def test_e1_reading_becomes_its_air_quality_records_with_units() -> None:
    records = to_records(_reading("E1"), {})
    assert _by_sensor(records) == {
        "temperature": (29.5, "°C", "temperature_sensor"),
        "humidity": (55.3, "%", "humidity_sensor"),
        "pressure": (101102.0, "Pa", "pressure_sensor"),
        "pm1_0": (10.1, "µg/m³", "pm1_0_sensor"),
        "pm2_5": (11.2, "µg/m³", "pm2_5_sensor"),
        "pm4_0": (121.3, "µg/m³", "pm4_0_sensor"),
        "pm10_0": (455.4, "µg/m³", "pm10_0_sensor"),
        "co2": (201.0, "ppm", "co2_sensor"),
        "voc_index": (20.0, "index", "voc_index_sensor"),
        "nox_index": (4.0, "index", "nox_index_sensor"),
        "illuminance": (13027.0, "lx", "illuminance_sensor"),
    }
    shared = records[0]
    assert shared["device_id"] == "cb:b8:33:4c:88:4f_temperature"
    assert shared["measurement_sequence"] == 14601710
    assert shared["battery_level"] is None  # Ruuvi Air reports no battery
    assert shared["metadata"]["calibration_in_progress"] == "false"
    assert shared["metadata"]["data_format"] == "225"


def test_format6_reading_has_pm2_5_only_and_the_topic_or_message_mac() -> None:
    records = to_records(_reading("6"), {})
    sensors = _by_sensor(records)
    assert set(sensors) == {
        "temperature", "humidity", "pressure", "pm2_5", "co2", "voc_index", "nox_index",
        "illuminance",
    }  # fmt: skip
    assert sensors["co2"] == (201.0, "ppm", "co2_sensor")
    assert sensors["illuminance"][0] == 13026.67
    assert {r["tag_mac"] for r in records} == {"CB:B8:33:4C:88:4F"}
    assert records[0]["measurement_sequence"] == 205


def test_format3_reading_has_format5_s_sensors_without_the_missing_ones() -> None:
    records = to_records(_reading("3"), {})
    sensors = _by_sensor(records)
    assert list(sensors) == [
        "temperature", "humidity", "pressure", "acceleration_x", "acceleration_y",
        "acceleration_z", "battery",
    ]  # fmt: skip
    assert sensors["temperature"] == (26.3, "°C", "temperature_sensor")
    assert records[0]["measurement_sequence"] is None
    assert records[0]["battery_level"] is not None
    assert "calibration_in_progress" not in records[0]["metadata"]


def test_calibration_flag_travels_in_metadata() -> None:
    decoded = formate1.decode_hex(CONTRACT["payloads_by_format"]["E1"]["raw"])
    flagged = formate1.encode_hex(replace(decoded, calibration_in_progress=True))
    reading = _reading("E1", raw=flagged, calibration_in_progress=True)
    assert all(r["metadata"]["calibration_in_progress"] == "true" for r in to_records(reading, {}))


@pytest.mark.parametrize("key", ["3", "6", "E1"])
def test_derived_values_follow_the_measured_ones_only_when_switched_on(key: str) -> None:
    reading = _reading(key)
    plain = to_records(reading, {})
    derived = to_records(reading, {}, derived=True)
    expected = derived_values(reading.values)
    assert derived[: len(plain)] == plain
    assert _by_sensor(derived[len(plain) :]) == {
        name: (value, unit, f"{name}_sensor")
        for name, value in expected.items()
        for unit in [{"dew_point": "°C", "absolute_humidity": "g/m³"}.get(name, "IAQS")]
    }
    assert ("air_quality_index" in expected) is (key != "3")


def test_thresholds_apply_to_the_new_and_the_derived_sensors() -> None:
    thresholds = {"co2": Threshold(high=150.0), "dew_point": Threshold(high=0.0)}
    records = to_records(_reading("E1"), thresholds, derived=True)
    anomalies = {r["device_id"].split("_", 1)[1] for r in records if r["is_anomaly"]}
    assert anomalies == {"co2", "dew_point"}
    assert {"co2", "pm2_5", "dew_point", "air_quality_index"} <= set(ALL_SENSOR_NAMES)


@pytest.mark.parametrize("key", ["3", "6", "E1"])
def test_records_of_every_format_are_valid_avro_and_fit_the_bound(key: str) -> None:
    records = to_records(_reading(key), {}, derived=True)
    assert len(records) <= MAX_RECORDS
    for record in records:
        assert fastavro.validation.validate(record, SCHEMA)


@pytest.mark.parametrize("key", ["3", "6", "E1"])
def test_the_fast_group_encoder_writes_what_the_schema_writes(key: str) -> None:
    """The adapter's group encoder (checked on a Format 5 sample) also encodes the new sensors'
    units and the calibration metadata byte for byte like fastavro."""
    import io

    def serialize(record: Any) -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, SCHEMA, dict(record))
        return b"\x00\x00\x00\x00\x01" + out.getvalue()

    encode = records_encoder(serialize, SCHEMA_STR)
    grouped = reading_records(_reading(key), {}, derived=True)
    assert encode(grouped) == [serialize(r) for r in grouped.as_dicts()]
