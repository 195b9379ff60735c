"""The official gateway's decoded MQTT mode (ruuvi_decoded): its fields become the same readings
as the raw data, to the gateway's printing precision, and bad values are refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iot_pipeline.ruuvi import ErrorKind, RuuviCodecError, decode_any_hex
from iot_pipeline.ruuvi.gateway_decoded import (
    FORMAT5_KEYS,
    FORMAT6_KEYS,
    FORMATE1_KEYS,
    reading_from_decoded,
)

ROOT = Path(__file__).parents[2] / "vectors"
OTHER = {
    v["name"]: v for v in json.loads((ROOT / "ruuvi_other_formats.json").read_text())["vectors"]
}
F5 = {
    v["name"]: v for v in json.loads((ROOT / "ruuvi_format5.json").read_text())["format5_payloads"]
}
KEYS = {5: FORMAT5_KEYS, 6: FORMAT6_KEYS, 0xE1: FORMATE1_KEYS}
# What ruuvi.gateway_esp.c prints with one decimal for Ruuvi Air (the rest: integers or full).
ONE_DECIMAL = {"temperature", "humidity", "pm1_0", "pm2_5", "pm4_0", "pm10_0"}


def as_gateway_prints(hex_payload: str) -> dict:
    """A decoded-mode object as the gateway would publish it for this payload."""
    reading = decode_any_hex(hex_payload)
    air = reading.data_format != 5
    obj: dict = {"dataFormat": "E1" if reading.data_format == 0xE1 else reading.data_format}
    for key, field in KEYS[reading.data_format].items():
        value = getattr(reading, field)
        if value is not None and air:
            value = round(value, 1) if field in ONE_DECIMAL else round(value)
        obj[key] = value
    if air:
        obj["flag_calibration_in_progress"] = reading.calibration_in_progress
        obj["flag_button_pressed"] = False
        obj["sound_avg_dba"] = 40.2
    obj["id"] = reading.mac
    return obj


@pytest.mark.parametrize(
    "hex_payload",
    [F5["valid"]["hex"], F5["maximum"]["hex"], F5["invalid"]["hex"]]
    + [OTHER[n]["hex"] for n in OTHER if not n.startswith("format3")],
)
def test_decoded_mode_equals_the_raw_decoding_to_the_gateway_s_precision(hex_payload) -> None:
    raw = decode_any_hex(hex_payload)
    got = reading_from_decoded(as_gateway_prints(hex_payload))
    assert type(got) is type(raw) and got.data_format == raw.data_format
    for field, value in raw.to_dict().items():
        mine = getattr(got, field)
        if value is None or isinstance(value, str | bool):
            assert mine == value, field
        else:
            assert mine == pytest.approx(value, abs=0.5 if raw.data_format != 5 else 1e-9), field


def test_format6_id_is_the_low_half_of_the_mac() -> None:
    got = reading_from_decoded(as_gateway_prints(OTHER["format6_valid"]["hex"]))
    assert got.mac == "4C:88:4F" and got.co2 == 201 and got.pm2_5 == 11.2


@pytest.mark.parametrize(
    ("change", "kind", "words"),
    [
        ({"dataFormat": 3}, ErrorKind.UNKNOWN_FORMAT, "dataFormat"),
        ({"CO2": "201"}, ErrorKind.BAD_VALUE, "CO2"),
        ({"CO2": 201.5}, ErrorKind.BAD_VALUE, "CO2 must be an integer"),
        ({"CO2": 70000}, ErrorKind.OUT_OF_RANGE, "co2"),
        ({"VOC": 600}, ErrorKind.OUT_OF_RANGE, "voc_index"),
        ({"PM2.5": -1.0}, ErrorKind.OUT_OF_RANGE, "pm2_5"),
        ({"flag_calibration_in_progress": "yes"}, ErrorKind.BAD_VALUE, "flag_calibration"),
        ({"id": 12}, ErrorKind.BAD_VALUE, "id"),
        ({"measurementSequenceNumber": 2**24}, ErrorKind.OUT_OF_RANGE, "measurement_sequence"),
    ],
)
def test_bad_values_are_refused_by_name(change: dict, kind: ErrorKind, words: str) -> None:
    obj = {**as_gateway_prints(OTHER["formatE1_valid"]["hex"]), **change}
    with pytest.raises(RuuviCodecError) as info:
        reading_from_decoded(obj)
    assert info.value.kind is kind
    assert words in info.value.message


def test_null_and_absent_values_are_not_available() -> None:
    obj = as_gateway_prints(OTHER["formatE1_valid"]["hex"])
    obj["CO2"] = None
    del obj["PM10.0"]
    got = reading_from_decoded(obj)
    assert got.co2 is None and got.pm10_0 is None and got.pm2_5 == 11.2


def test_format6_without_sequence_is_refused() -> None:
    obj = as_gateway_prints(OTHER["format6_valid"]["hex"])
    del obj["measurementSequenceNumber"]
    with pytest.raises(RuuviCodecError, match="measurementSequenceNumber"):
        reading_from_decoded(obj)
