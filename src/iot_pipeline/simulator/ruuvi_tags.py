"""Simulated RuuviTags and Ruuvi Airs heard by a simulated ESP32 gateway (pure).

Each tag's measurements are encoded into a real payload of its data format with the shared
codec (Format 5 or the legacy Format 3 for RuuviTags; E1 and/or Format 6 for Ruuvi Airs, whose
room is modelled in ``air.py``), and the MQTT message is built exactly as the firmware builds
it (the contract is tests/vectors/esp32_gateway_message.json, ``payload`` and
``payloads_by_format``): the decoded fields are the codec's decoding of `raw`, so the adapter's
raw-vs-fields check passes for honest messages.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from iot_pipeline.ruuvi import (
    Format6Reading,
    FormatE1Reading,
    RuuviReading,
    decode_payload,
    encode,
    format3,
    format6,
    format_mac,
    formate1,
)
from iot_pipeline.simulator.air import RoomAir, step

SEQUENCE_LIMIT = 65535  # 65535 is the spec's "not available"; the counter wraps to 0 before it
E1_SEQUENCE_LIMIT = 16_777_215  # E1: 24 bits, 0xFFFFFF is "not available"
MOVEMENT_LIMIT = 255  # 255 is "not available"
# What a simulated tag advertises (IOT_RUUVI_FORMATS): a RuuviTag in Format 5 or 3, a Ruuvi Air
# in E1 only (BLE 5 receiver), 6 only (BLE 4 receiver) or both ("6+E1": a receiver hears each
# measurement twice and keeps E1).
TAG_FORMATS = ("5", "3", "E1", "6", "6+E1")
# Format 5/3 message order (the firmware's); Format 3 prints the same shape with nulls.
F5_MESSAGE_FIELDS = (
    "temperature",
    "humidity",
    "pressure",
    "acceleration_x",
    "acceleration_y",
    "acceleration_z",
    "battery",
    "tx_power",
    "movement_counter",
    "measurement_sequence",
)


@dataclass
class SimulatedTag:
    mac: str
    temperature: float
    humidity: float
    pressure: int
    battery: float
    movement_counter: int = 0
    measurement_sequence: int = 0
    tag_format: str = "5"
    room: RoomAir | None = None  # Ruuvi Air: the room it measures
    pending_format6: bytes | None = None  # "6+E1": the Format 6 twin of the last E1 sample


def make_tags(
    count: int, rng: random.Random, formats: Sequence[str] = ("5",)
) -> list[SimulatedTag]:
    """Tags with stable, distinct MACs (random static addresses start with 0b11 in the top
    bits), their formats assigned from ``formats`` in turn."""
    tags = []
    for index in range(count):
        mac = bytes([0xC0 | rng.randrange(0x40), *rng.randbytes(4), index & 0xFF])
        tag_format = formats[index % len(formats)]
        if tag_format not in TAG_FORMATS:
            raise ValueError(f"unknown tag format {tag_format!r}; known: {list(TAG_FORMATS)}")
        is_air = tag_format in ("E1", "6", "6+E1")
        tags.append(
            SimulatedTag(
                mac=format_mac(mac),
                temperature=round(rng.uniform(18.0, 24.0), 2),
                humidity=round(rng.uniform(30.0, 60.0), 2),
                pressure=rng.randrange(99_000, 103_000),
                battery=round(rng.uniform(2.8, 3.1), 3),
                tag_format=tag_format,
                room=RoomAir(co2=rng.uniform(430.0, 600.0)) if is_air else None,
            )
        )
    return tags


def next_tag_reading(tag: SimulatedTag, rng: random.Random, anomaly_probability: float) -> bytes:
    """Advance the tag one measurement; returns the 24-byte Format 5 payload it advertises."""
    tag.temperature = min(40.0, max(-10.0, tag.temperature + rng.gauss(0.0, 0.05)))
    tag.humidity = min(95.0, max(5.0, tag.humidity + rng.gauss(0.0, 0.2)))
    tag.pressure = min(110_000, max(90_000, tag.pressure + round(rng.gauss(0.0, 5.0))))
    tag.battery = max(1.8, tag.battery - rng.uniform(0.0, 0.0002))
    if rng.random() < 0.05:
        tag.movement_counter = (tag.movement_counter + 1) % MOVEMENT_LIMIT
    tag.measurement_sequence = (tag.measurement_sequence + 1) % SEQUENCE_LIMIT
    temperature = tag.temperature
    if rng.random() < anomaly_probability:
        # A freezer door left open, a tag on a radiator: far beyond the 50 °C threshold.
        temperature = rng.uniform(60.0, 80.0)
    reading = RuuviReading(
        data_format=5,
        temperature=round(temperature, 2),
        humidity=round(tag.humidity, 2),
        pressure=tag.pressure,
        acceleration_x=round(rng.gauss(0.0, 0.01), 3),
        acceleration_y=round(rng.gauss(0.0, 0.01), 3),
        acceleration_z=round(1.0 + rng.gauss(0.0, 0.01), 3),
        tx_power=4,
        battery=round(tag.battery, 3),
        movement_counter=tag.movement_counter,
        measurement_sequence=tag.measurement_sequence,
        mac=tag.mac,
    )
    return encode(reading)


def next_format3_reading(
    tag: SimulatedTag, rng: random.Random, anomaly_probability: float
) -> bytes:
    """Advance a RAWv1 tag one measurement; returns its 14-byte Format 3 payload (no sequence,
    movement counter, tx power or MAC: the format has none)."""
    reading = decode_payload(next_tag_reading(tag, rng, anomaly_probability))
    assert isinstance(reading, RuuviReading)  # next_tag_reading advertises Format 5
    return format3.encode(
        replace(
            reading,
            data_format=3,
            tx_power=None,
            movement_counter=None,
            measurement_sequence=None,
            mac=None,
        )
    )


def next_air_readings(
    tag: SimulatedTag, rng: random.Random, anomaly_probability: float, moment: datetime
) -> tuple[bytes, bytes, bool]:
    """Advance a Ruuvi Air one measurement at ``moment``: its E1 and Format 6 payloads of the
    same sample (Format 6's sequence is E1's low byte, its MAC E1's low 3 bytes) and whether an
    anomaly was injected."""
    room = tag.room
    assert room is not None
    anomaly = step(room, moment, rng, anomaly_probability)
    tag.measurement_sequence = (tag.measurement_sequence + 1) % E1_SEQUENCE_LIMIT
    calibrating = tag.measurement_sequence < 3  # sensors settle for a few samples after boot
    pm = {name: round(min(value, 1000.0), 1) for name, value in room.pm().items()}
    voc = min(500, round(room.voc_index))
    nox = min(500, round(room.nox_index))
    co2 = min(40000, round(room.co2))
    temperature = round(room.temperature, 2)
    humidity = round(room.humidity, 2)
    e1 = FormatE1Reading(
        0xE1,
        temperature,
        humidity,
        tag.pressure,
        pm["pm1_0"],
        pm["pm2_5"],
        pm["pm4_0"],
        pm["pm10_0"],
        co2,
        voc,
        nox,
        round(min(room.illuminance, 144_284.0), 2),
        tag.measurement_sequence,
        calibrating,
        tag.mac,
    )
    f6 = Format6Reading(
        6,
        temperature,
        humidity,
        tag.pressure,
        pm["pm2_5"],
        co2,
        voc,
        nox,
        round(min(room.illuminance, format6.LUX_MAX), 2),
        tag.measurement_sequence & 0xFF,
        calibrating,
        tag.mac[-8:],
    )
    return formate1.encode(e1), format6.encode(f6), anomaly


def format_timestamp(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a Z, as the firmware prints SNTP time."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def build_gateway_message(
    raw: bytes,
    *,
    gateway_id: str,
    gateway_mac: str,
    rssi: int,
    timestamp: datetime,
    mac: str | None = None,
) -> dict[str, Any]:
    """The firmware's MQTT JSON for one advertisement of any format (field order as the
    firmware's). ``mac`` is the advertiser's BLE address; by default the payload's own MAC
    (Formats 5 and E1 carry all of it, 6 and 3 do not: pass it)."""
    decoded = decode_payload(raw)
    tag_mac = mac if mac is not None else decoded.mac
    if tag_mac is None or len(tag_mac) != 17:
        raise ValueError("the tag's BLE address is needed: the payload carries no full MAC")
    message: dict[str, Any] = {
        "gateway_id": gateway_id,
        "gateway_mac": gateway_mac,
        "mac": tag_mac,
        "rssi": rssi,
        "timestamp": format_timestamp(timestamp),
        "data_format": decoded.data_format,
        "raw": raw.hex().upper(),
    }
    fields = decoded.to_dict()
    if isinstance(decoded, RuuviReading):
        message.update((name, fields[name]) for name in F5_MESSAGE_FIELDS)
    else:
        message.update((k, v) for k, v in fields.items() if k not in ("data_format", "mac"))
    return message
