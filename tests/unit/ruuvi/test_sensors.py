"""Per-sensor values of every format, units, metadata and measurement keys."""

from __future__ import annotations

import json
from pathlib import Path

from iot_pipeline.ruuvi import decode_any_hex
from iot_pipeline.ruuvi.sensors import (
    SENSORS_BY_FORMAT,
    UNITS,
    measurement_key,
    reading_metadata,
    sensor_values,
)

ROOT = Path(__file__).parents[2] / "vectors"
OTHER = {
    v["name"]: v for v in json.loads((ROOT / "ruuvi_other_formats.json").read_text())["vectors"]
}
F5 = json.loads((ROOT / "ruuvi_format5.json").read_text())["format5_payloads"][0]


def _sensors(name: str, derived: bool = False) -> dict[str, float]:
    return {f.sensor: v for f, v in sensor_values(decode_any_hex(OTHER[name]["hex"]), derived)}


def test_format5_sensors_are_the_adapter_s_current_ones() -> None:
    got = [(f.sensor, f.unit) for f, _ in sensor_values(decode_any_hex(F5["hex"]), False)]
    assert got == [
        ("temperature", "°C"),
        ("humidity", "%"),
        ("pressure", "Pa"),
        ("acceleration_x", "g"),
        ("acceleration_y", "g"),
        ("acceleration_z", "g"),
        ("battery", "V"),
        ("tx_power", "dBm"),
        ("movement_counter", "count"),
    ]


def test_e1_has_every_air_sensor_with_units() -> None:
    got = _sensors("formatE1_valid", derived=True)
    assert got["co2"] == 201.0 and got["pm2_5"] == 11.2 and got["pm10_0"] == 455.4
    assert got["illuminance"] == 13027.0 and got["voc_index"] == 20.0
    assert got["air_quality_index"] == 81.0
    assert {UNITS[s] for s in ("pm1_0", "pm2_5", "pm4_0", "pm10_0")} == {"µg/m³"}
    assert (UNITS["co2"], UNITS["illuminance"], UNITS["dew_point"]) == ("ppm", "lx", "°C")
    assert UNITS["absolute_humidity"] == "g/m³"


def test_format6_has_pm2_5_only_and_format3_no_missing_fields() -> None:
    assert "pm1_0" not in _sensors("format6_valid") and "pm2_5" in _sensors("format6_valid")
    assert set(_sensors("format3_valid")) == {
        "temperature",
        "humidity",
        "pressure",
        "acceleration_x",
        "acceleration_y",
        "acceleration_z",
        "battery",
    }


def test_not_available_values_make_no_record() -> None:
    assert _sensors("formatE1_invalid", derived=True) == {}
    assert _sensors("format6_invalid", derived=True) == {}


def test_device_types_and_metadata() -> None:
    assert all(
        f.device_type == f"{f.sensor}_sensor" for fs in SENSORS_BY_FORMAT.values() for f in fs
    )
    e1 = decode_any_hex(OTHER["formatE1_maximum"]["hex"])
    assert reading_metadata(e1) == {"calibration_in_progress": "true"}
    assert reading_metadata(decode_any_hex(F5["hex"])) == {}


def test_measurement_keys() -> None:
    e1 = decode_any_hex(OTHER["formatE1_valid"]["hex"])
    assert measurement_key(e1, None) == 14_601_710
    raw3 = bytes.fromhex(OTHER["format3_valid"]["hex"])
    f3 = decode_any_hex(raw3.hex())
    key = measurement_key(f3, raw3)
    assert key is not None and key >= 1 << 24
    assert measurement_key(f3, raw3) == key
    assert measurement_key(f3, bytes.fromhex(OTHER["format3_maximum"]["hex"])) != key
    assert measurement_key(f3, None) is None
