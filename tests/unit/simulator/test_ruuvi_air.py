"""Simulated Ruuvi Airs and Format 3 tags: room physics, payloads, firmware messages, the mix."""

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from iot_pipeline.config import load_settings
from iot_pipeline.ruuvi import decode_payload
from iot_pipeline.simulator.air import OUTDOOR_CO2, RoomAir, occupancy_target, step
from iot_pipeline.simulator.ruuvi_tags import (
    build_gateway_message,
    make_tags,
    next_air_readings,
    next_format3_reading,
)
from iot_pipeline.simulator.service import ruuvi_source

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
MONDAY_6H = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def _day(room: RoomAir, rng: random.Random, hours: float, anomaly: float = 0.0, start=MONDAY_6H):
    levels = []
    for minute in range(int(hours * 60)):
        moment = start + timedelta(minutes=minute)
        step(room, moment, rng, anomaly)
        levels.append((moment, room.co2, room.pm2_5, room.occupants))
    return levels


def test_occupancy_follows_an_office_day() -> None:
    assert occupancy_target(MONDAY_6H) == 0
    assert occupancy_target(MONDAY_6H.replace(hour=10)) == 4
    assert occupancy_target(MONDAY_6H.replace(hour=12, minute=30)) == 1
    assert occupancy_target(MONDAY_6H.replace(day=28, hour=10)) == 0  # Saturday


def test_co2_rises_with_people_and_falls_back_when_they_leave() -> None:
    room = RoomAir(co2=450.0)
    levels = _day(room, random.Random(5), hours=16)
    night = [co2 for moment, co2, _, _ in levels if moment.hour < 7]
    working = [co2 for moment, co2, _, _ in levels if 9 <= moment.hour < 12]
    evening = [co2 for moment, co2, _, _ in levels if moment.hour >= 21]
    assert max(night) < 500 and min(night) >= OUTDOOR_CO2 - 1
    assert max(working) > 1000  # four people in 40 m³ with the window shut
    assert max(evening) < 600  # ventilation brings it back towards outdoor air
    assert all(co2 < 5000 for _, co2, _, _ in levels)  # occupants open the window when stuffy


def test_no_sources_keeps_pm_near_infiltrated_outdoor_air_and_cooking_raises_it() -> None:
    quiet = _day(RoomAir(), random.Random(6), hours=6)
    assert max(pm for _, _, pm, _ in quiet) < 12
    room = RoomAir()
    rng = random.Random(7)
    step(room, MONDAY_6H, rng, 0.0)
    room.source_ug_m3_h, room.source_left_s = 3000.0, 900.0
    peak = max(
        pm for _, _, pm, _ in _day(room, rng, hours=1, start=MONDAY_6H + timedelta(minutes=1))
    )
    assert peak > 100


def test_anomalies_are_injected_and_reported() -> None:
    rng = random.Random(8)
    room = RoomAir()
    flags = [step(room, MONDAY_6H + timedelta(minutes=m), rng, 1.0) for m in range(5)]
    assert all(flags) and (room.source_left_s > 0 or room.crowd_left_s > 0)


def test_air_payloads_are_one_sample_in_two_formats() -> None:
    rng = random.Random(9)
    tag = make_tags(1, rng, ["6+E1"])[0]
    e1_raw, f6_raw, _ = next_air_readings(tag, rng, 0.0, MONDAY_6H + timedelta(hours=10))
    e1, f6 = decode_payload(e1_raw), decode_payload(f6_raw)
    assert (e1.data_format, f6.data_format) == (0xE1, 6)
    assert f6.measurement_sequence == e1.measurement_sequence & 0xFF
    assert e1.mac == tag.mac and f6.mac == tag.mac[-8:]
    assert (f6.co2, f6.pm2_5, f6.temperature) == (e1.co2, e1.pm2_5, e1.temperature)
    assert e1.pm1_0 <= e1.pm2_5 <= e1.pm4_0 <= e1.pm10_0
    assert e1.calibration_in_progress is True  # first samples after boot


def test_format3_tag_payload_has_no_sequence_or_mac() -> None:
    rng = random.Random(10)
    tag = make_tags(1, rng, ["3"])[0]
    reading = decode_payload(next_format3_reading(tag, rng, 0.0))
    assert reading.data_format == 3
    assert reading.mac is None and reading.measurement_sequence is None
    assert reading.temperature is not None and reading.battery is not None


@pytest.mark.parametrize("name", ["3", "6", "E1"])
def test_messages_match_the_firmware_contract(name: str) -> None:
    example = json.loads((VECTORS / "esp32_gateway_message.json").read_text())
    expected = example["payloads_by_format"][name]
    message = build_gateway_message(
        bytes.fromhex(expected["raw"]),
        gateway_id=expected["gateway_id"],
        gateway_mac=expected["gateway_mac"],
        rssi=expected["rssi"],
        timestamp=datetime(2026, 11, 23, 13, 37, 0, 123_456, tzinfo=UTC),
        mac=expected["mac"],
    )
    assert list(message) == list(expected)
    assert message == expected


def test_a_format6_message_needs_the_ble_address() -> None:
    raw = bytes.fromhex("06170C5668C79E007000C90501D9FFCD004C884F")
    with pytest.raises(ValueError, match="BLE address"):
        build_gateway_message(
            raw, gateway_id="g", gateway_mac="02:00:00:00:00:01", rssi=-70, timestamp=MONDAY_6H
        )


def test_ruuvi_mode_mixes_formats_from_settings() -> None:
    settings = load_settings(
        iot_num_devices=4, iot_simulator_mode="ruuvi", iot_ruuvi_formats="5,3,6+E1,e1"
    )
    intervals, source = ruuvi_source(settings, random.Random(11))
    assert len(intervals) == 5  # the 6+E1 tag has two schedule entries
    outs = [source(i, MONDAY_6H + timedelta(hours=10)) for i in range(5)]
    formats = [message["data_format"] for _, message, _, _ in outs]
    assert formats == [5, 3, 0xE1, 6, 0xE1]
    kinds = [kind for _, _, _, kind in outs]
    assert kinds == ["ruuvitag", "ruuvitag", "ruuvi_air", "ruuvi_air", "ruuvi_air"]
    e1_msg, f6_msg = outs[2][1], outs[3][1]
    assert f6_msg["mac"] == e1_msg["mac"] == outs[2][0]
    assert f6_msg["measurement_sequence"] == e1_msg["measurement_sequence"] & 0xFF
    for _, message, _, _ in outs:
        decoded = decode_payload(bytes.fromhex(message["raw"])).to_dict()
        assert all(decoded[k] == v for k, v in message.items() if k in decoded and k != "mac")


def test_unknown_tag_format_is_refused() -> None:
    with pytest.raises(ValueError):
        load_settings(iot_ruuvi_formats="5,7")
    with pytest.raises(ValueError):
        make_tags(1, random.Random(1), ["7"])
