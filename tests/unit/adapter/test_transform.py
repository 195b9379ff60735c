"""One reading into per-sensor records exactly as CONTRACT.md and the Avro schema describe."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_pipeline.adapter.transform import (
    DEFAULT_THRESHOLDS,
    SENSOR_NAMES,
    BatteryModel,
    RecordMaker,
    Threshold,
    device_id,
    reading_records,
    to_records,
)
from iot_pipeline.adapter.validation import TagReading, parse_message
from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema
from iot_pipeline.schemas.reading_encoder import PER_RECORD_FIELDS, SHARED_FIELDS

VECTORS_DIR = Path(__file__).parents[2] / "vectors"
FIRMWARE = json.loads((VECTORS_DIR / "esp32_gateway_message.json").read_text(encoding="utf-8"))
RECEIVED = datetime(2026, 11, 23, 13, 37, 1, tzinfo=UTC)
SCHEMA = fastavro.parse_schema(json.loads(load_schema(READING_SCHEMA_FILE)))


def _reading() -> TagReading:
    result = parse_message(FIRMWARE["topic"], json.dumps(FIRMWARE["payload"]).encode(), RECEIVED)
    assert isinstance(result, TagReading)
    return result


EXPECTED = [
    ("temperature", "temperature_sensor", 24.3, "°C"),
    ("humidity", "humidity_sensor", 53.49, "%"),
    ("pressure", "pressure_sensor", 100044.0, "Pa"),
    ("acceleration_x", "acceleration_x_sensor", 0.004, "g"),
    ("acceleration_y", "acceleration_y_sensor", -0.004, "g"),
    ("acceleration_z", "acceleration_z_sensor", 1.036, "g"),
    ("battery", "battery_sensor", 2.977, "V"),
    ("tx_power", "tx_power_sensor", 4.0, "dBm"),
    ("movement_counter", "movement_counter_sensor", 66.0, "count"),
]


def test_firmware_vector_becomes_nine_exact_records() -> None:
    records = to_records(_reading(), DEFAULT_THRESHOLDS)
    assert [(r["device_id"], r["device_type"], r["value"], r["unit"]) for r in records] == [
        (f"cb:b8:33:4c:88:4f_{sensor}", dtype, value, unit)
        for sensor, dtype, value, unit in EXPECTED
    ]
    for record in records:
        assert type(record["value"]) is float
        assert record["timestamp"] == datetime(2026, 11, 23, 13, 37, 0, 123000, tzinfo=UTC)
        assert record["tag_mac"] == "CB:B8:33:4C:88:4F"
        assert record["gateway_id"] == "esp32-gw-01"
        assert record["rssi"] == -67
        assert record["signal_strength"] == -67.0
        assert record["measurement_sequence"] == 205
        assert record["battery_level"] == 97.7
        assert record["location"] is None
        assert record["firmware_version"] is None
        assert record["is_anomaly"] is False
        assert record["metadata"] == {
            "source": "esp32_firmware",
            "timestamp_source": "payload",
            "data_format": "5",
            "gateway_mac": "24:0A:C4:12:34:56",
            "raw": FIRMWARE["payload"]["raw"],
        }


def test_records_have_exactly_the_schema_fields_and_validate() -> None:
    field_names = [f["name"] for f in json.loads(load_schema(READING_SCHEMA_FILE))["fields"]]
    for record in to_records(_reading(), DEFAULT_THRESHOLDS):
        assert sorted(record) == sorted(field_names)
        assert fastavro.validation.validate(record, SCHEMA, raise_errors=True)


def test_records_survive_an_avro_round_trip() -> None:
    import io

    records = to_records(_reading(), DEFAULT_THRESHOLDS)
    buffer = io.BytesIO()
    for record in records:
        fastavro.schemaless_writer(buffer, SCHEMA, record)
    buffer.seek(0)
    back = [fastavro.schemaless_reader(buffer, SCHEMA, SCHEMA) for _ in records]
    assert [r["value"] for r in back] == [r["value"] for r in records]
    assert all(r["timestamp"] == records[0]["timestamp"] for r in back)


def test_not_available_values_produce_no_record() -> None:
    reading = _reading()
    values = replace(reading.values, humidity=None, acceleration_y=None, battery=None)
    records = to_records(replace(reading, values=values), DEFAULT_THRESHOLDS)
    sensors = [r["device_type"].removesuffix("_sensor") for r in records]
    assert sensors == [
        s for s in SENSOR_NAMES if s not in ("humidity", "acceleration_y", "battery")
    ]
    assert all(r["battery_level"] is None for r in records)


def test_all_values_not_available_gives_no_records() -> None:
    reading = _reading()
    values = replace(reading.values, **dict.fromkeys(SENSOR_NAMES))
    assert to_records(replace(reading, values=values), DEFAULT_THRESHOLDS) == []


@pytest.mark.parametrize(
    ("thresholds", "anomalous"),
    [
        ({}, set()),
        ({"temperature": Threshold(high=24.3)}, set()),  # bounds are inclusive
        ({"temperature": Threshold(high=24.29)}, {"temperature"}),
        ({"temperature": Threshold(low=24.31)}, {"temperature"}),
        (
            {"pressure": Threshold(87000, 100000), "battery": Threshold(low=3.0)},
            {"pressure", "battery"},
        ),
        (
            {"acceleration_z": Threshold(-1, 1), "movement_counter": Threshold(high=10)},
            {"acceleration_z", "movement_counter"},
        ),
    ],
)
def test_is_anomaly_follows_the_given_thresholds(
    thresholds: dict[str, Threshold], anomalous: set[str]
) -> None:
    records = to_records(_reading(), thresholds)
    flagged = {r["device_type"].removesuffix("_sensor") for r in records if r["is_anomaly"]}
    assert flagged == anomalous


def test_seed_design_thresholds() -> None:
    reading = _reading()
    hot = replace(reading, values=replace(reading.values, temperature=50.005, battery=1.9))
    flagged = {r["device_type"] for r in to_records(hot, DEFAULT_THRESHOLDS) if r["is_anomaly"]}
    assert flagged == {"temperature_sensor", "battery_sensor"}


@pytest.mark.parametrize(
    ("volts", "percent"),
    [(1.6, 0.0), (2.0, 0.0), (2.5, 50.0), (2.977, 97.7), (3.0, 100.0), (3.646, 100.0)],
)
def test_battery_percent_estimate(volts: float, percent: float) -> None:
    assert BatteryModel().percent(volts) == percent


def test_battery_model_is_configurable() -> None:
    records = to_records(_reading(), {}, BatteryModel(empty_volts=2.5, full_volts=3.5))
    assert records[0]["battery_level"] == 47.7


def test_device_id_is_lower_case_mac_and_sensor() -> None:
    assert device_id("CB:B8:33:4C:88:4F", "temperature") == "cb:b8:33:4c:88:4f_temperature"


def test_records_do_not_share_mutable_metadata() -> None:
    records: list[dict[str, Any]] = to_records(_reading(), {})
    records[0]["metadata"]["x"] = "y"
    assert "x" not in records[1]["metadata"]


def test_ruuvi_gateway_reading_records_carry_the_gateway_mac_as_id() -> None:
    data = "0201061BFF99040517037758C5C703FCFF30FFF89416B7958AE375CF374E23"
    result = parse_message(
        "ruuvi/C8:25:2D:8E:9C:2C/E3:75:CF:37:4E:23",
        json.dumps({"gw_mac": "C8:25:2D:8E:9C:2C", "rssi": -26, "data": data}).encode(),
        RECEIVED,
    )
    assert isinstance(result, TagReading)
    records = to_records(result, DEFAULT_THRESHOLDS)
    assert len(records) == 9
    assert records[0]["device_id"] == "e3:75:cf:37:4e:23_temperature"
    assert records[0]["value"] == 29.455
    assert records[0]["gateway_id"] == "C8:25:2D:8E:9C:2C"
    assert records[0]["timestamp"] == RECEIVED
    assert records[0]["metadata"]["timestamp_source"] == "receive_time"
    assert records[0]["metadata"]["source"] == "ruuvi_gateway"


def test_grouped_records_split_exactly_into_shared_and_per_sensor_fields() -> None:
    grouped = reading_records(_reading(), DEFAULT_THRESHOLDS)
    assert list(grouped.shared) == list(SHARED_FIELDS)
    assert all(sensor._fields == PER_RECORD_FIELDS for sensor in grouped.sensors)
    assert grouped.as_dicts() == to_records(_reading(), DEFAULT_THRESHOLDS)
    first, second = grouped.as_dicts()[:2]
    assert first["metadata"] is not second["metadata"]  # each record owns its metadata


_BOUND = st.none() | st.floats(allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    low=_BOUND,
    high=_BOUND,
    temperature=st.floats(-163.8, 163.8),
    derived=st.booleans(),
)
def test_record_maker_flags_anomalies_as_the_threshold_does(
    low: float | None, high: float | None, temperature: float, derived: bool
) -> None:
    """RecordMaker resolves thresholds to bounds once; each record's is_anomaly must still be
    Threshold.is_anomaly of its value, for every sensor, derived ones included."""
    reading = _reading()
    reading = replace(reading, values=replace(reading.values, temperature=temperature))
    thresholds = {name: Threshold(low, high) for name in ("temperature", "dew_point", "battery")}
    records = RecordMaker(thresholds, derived=derived)(reading)
    for sensor in records.sensors:
        name = sensor.device_id.split("_", 1)[1]
        threshold = thresholds.get(name)
        expected = threshold is not None and threshold.is_anomaly(sensor.value)
        assert sensor.is_anomaly == expected, (name, sensor.value)
