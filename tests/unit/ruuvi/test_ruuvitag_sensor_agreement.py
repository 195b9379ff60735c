"""The codec agrees with ``ruuvitag-sensor`` 4.1.0 (a widely used third-party decoder, test-only
dependency) on seeded random payloads of every format, within that library's rounding.

Its quirks, which the comparisons below account for (all observed in 4.1.0's source):

* Advertisement parsing (``DataFormats.convert_data``) expects a leading total-length byte and
  finds the manufacturer AD only by an upper-case type (``FF``), then matches the payload by an
  upper-case prefix (``FF990405``, ``FF990406``, ``FF990403``) except for E1, matched
  case-insensitively (as ``ff9904e1``: "Ruuvi Air sends E1 in lowercase", i.e. ``FF9904e1``)
  and returned lower-cased. A wholly lower-case advertisement is not recognised at all. Our
  codec reads hex in either case for every format.
* It reports pressure in hPa (rounded to 0.01), acceleration in mg and battery in mV as
  integers; rounds Format 5 temperature and humidity to 0.01 (the format's steps are 0.005 degC
  and 0.0025 %RH), Formats 6/E1 temperature and humidity to 0.001, PM to 0.1, lux to 0.01 with
  Python's round-half-even; computes Format 3 temperature by float addition (integer part +
  hundredths / 100). The tolerances below are exactly those roundings.
* It never reports "not available" for Format 5's movement counter and sequence (255 and 65535
  come out as numbers) nor for any MAC (all-ones is a string; Format 5/6 MACs are lower-case
  hex without colons, E1's upper-case with colons); our codec gives None there. When one
  Format 5 acceleration axis is not available it reports all three as None.
* Format 6's MAC is the 3 low bytes, its sequence has no sentinel: both agree on that.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from ruuvitag_sensor.data_formats import DataFormats
from ruuvitag_sensor.decoder import get_decoder

from iot_pipeline.ruuvi import decode_any_hex, decode_payload
from tests.ruuvi_payloads import random_payload

SEED = 4_100
PAYLOADS_PER_FORMAT = 3000


def _theirs(payload: bytes) -> dict[str, Any]:
    """Decode with ruuvitag-sensor as its BLE adapters do: whole advertisement, length first."""
    adv = bytes([len(payload) + 3, 0xFF, 0x99, 0x04]) + payload
    text = bytes([len(adv)]).hex().upper() + adv.hex().upper()
    data_format, data = DataFormats.convert_data(text)
    assert data_format is not None, text
    decoded = get_decoder(data_format).decode_data(data)
    assert decoded is not None, text
    return decoded


def _hpa(pa: int | None) -> float | None:
    return None if pa is None else round(pa / 100, 2)


def _close(ours: float | None, theirs: float | None, tolerance: float) -> bool:
    if ours is None or theirs is None:
        return ours is None and theirs is None
    return math.isclose(ours, theirs, abs_tol=tolerance)


def _mac_plain(mac: str | None, octets: int) -> str:
    return "ff" * octets if mac is None else mac.replace(":", "").lower()


def _check_format3(ours: Any, theirs: dict[str, Any]) -> None:
    assert _close(ours.temperature, theirs["temperature"], 1e-9)
    assert ours.humidity == theirs["humidity"]
    assert _hpa(ours.pressure) == theirs["pressure"]
    for axis in "xyz":
        assert round(getattr(ours, f"acceleration_{axis}") * 1000) == theirs[f"acceleration_{axis}"]
    assert round(ours.battery * 1000) == theirs["battery"]


def _check_format5(ours: Any, theirs: dict[str, Any]) -> None:
    assert _close(ours.temperature, theirs["temperature"], 0.005 + 1e-9)
    assert _close(ours.humidity, theirs["humidity"], 0.005 + 1e-9)
    assert _hpa(ours.pressure) == theirs["pressure"]
    axes = [getattr(ours, f"acceleration_{axis}") for axis in "xyz"]
    theirs_axes = [theirs[f"acceleration_{axis}"] for axis in "xyz"]
    if None in axes:  # it drops all three axes when any one is not available
        assert theirs_axes == [None, None, None]
    else:
        assert [round(a * 1000) for a in axes] == theirs_axes
    assert (None if ours.battery is None else round(ours.battery * 1000)) == theirs["battery"]
    assert ours.tx_power == theirs["tx_power"]
    assert ours.movement_counter == (
        None if theirs["movement_counter"] == 255 else theirs["movement_counter"]
    )
    sequence = theirs["measurement_sequence_number"]
    assert ours.measurement_sequence == (None if sequence == 65535 else sequence)
    assert _mac_plain(ours.mac, 6) == theirs["mac"]


def _check_air(ours: Any, theirs: dict[str, Any]) -> None:
    """Fields Formats 6 and E1 share (E1's PM1/4/10 checked by the caller)."""
    assert _close(ours.temperature, theirs["temperature"], 0.0005 + 1e-9)
    assert _close(ours.humidity, theirs["humidity"], 0.0005 + 1e-9)
    assert _hpa(ours.pressure) == theirs["pressure"]
    assert _close(ours.pm2_5, theirs["pm_2_5"], 1e-9)
    assert ours.co2 == theirs["co2"]
    assert ours.voc_index == theirs["voc"]
    assert ours.nox_index == theirs["nox"]
    assert _close(ours.luminosity, theirs["luminosity"], 0.01 + 1e-9)
    assert ours.calibration_in_progress is theirs["calibration_in_progress"]


def _check_format6(ours: Any, theirs: dict[str, Any]) -> None:
    _check_air(ours, theirs)
    assert ours.measurement_sequence == theirs["measurement_sequence_number"]
    assert _mac_plain(ours.mac, 3) == theirs["mac"]


def _check_formate1(ours: Any, theirs: dict[str, Any]) -> None:
    _check_air(ours, theirs)
    assert (ours.pm1_0, ours.pm4_0, ours.pm10_0) == (
        theirs["pm_1"],
        theirs["pm_4"],
        theirs["pm_10"],
    )
    assert ours.measurement_sequence == theirs["measurement_sequence_number"]
    assert (ours.mac or "FF:FF:FF:FF:FF:FF") == theirs["mac"]


CHECKS = {3: _check_format3, 5: _check_format5, 6: _check_format6, 0xE1: _check_formate1}


@pytest.mark.parametrize("data_format", [3, 5, 6, 0xE1], ids=["3", "5", "6", "E1"])
def test_codec_agrees_with_ruuvitag_sensor(data_format: int) -> None:
    rng = random.Random(SEED + data_format)
    for _ in range(PAYLOADS_PER_FORMAT):
        payload = random_payload(data_format, rng)
        try:
            CHECKS[data_format](decode_payload(payload), _theirs(payload))
        except AssertionError as exc:
            raise AssertionError(f"payload {payload.hex().upper()}") from exc


def test_e1_lower_case_header_quirk() -> None:
    """ruuvitag-sensor finds E1 after ``FF9904`` in either case, the other formats only in upper
    case, and nothing in a wholly lower-case advertisement; our codec reads any case."""
    e1 = bytes([43, 0xFF, 0x99, 0x04]) + random_payload(0xE1, random.Random(SEED))
    e1_text = e1.hex().upper()
    mixed = "2C" + e1_text[:8] + e1_text[8:].lower()  # FF9904e1...
    assert DataFormats.convert_data(mixed)[0] == "E1"
    assert DataFormats.convert_data("2C" + e1_text)[0] == "E1"
    assert DataFormats.convert_data("2c" + e1.hex())[0] is None
    five = bytes([27, 0xFF, 0x99, 0x04]) + random_payload(5, random.Random(SEED))
    assert DataFormats.convert_data("1C" + five.hex().upper())[0] == 5
    assert DataFormats.convert_data("1c" + five.hex())[0] is None
    assert decode_any_hex(mixed[2:]) == decode_any_hex(e1.hex())
