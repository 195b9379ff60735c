"""Simulated RuuviTags heard by a simulated ESP32 gateway (pure).

Each tag's measurements are encoded into a real Data Format 5 payload with the shared codec, and
the MQTT message is built exactly as the firmware builds it (the contract is
tests/vectors/esp32_gateway_message.json): the decoded fields are the codec's decoding of
`raw`, so the adapter's raw-vs-fields check passes for honest messages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iot_pipeline.ruuvi import RuuviReading, decode, encode, format_mac

SEQUENCE_LIMIT = 65535  # 65535 is the spec's "not available"; the counter wraps to 0 before it
MOVEMENT_LIMIT = 255  # 255 is "not available"


@dataclass
class SimulatedTag:
    mac: str
    temperature: float
    humidity: float
    pressure: int
    battery: float
    movement_counter: int = 0
    measurement_sequence: int = 0


def make_tags(count: int, rng: random.Random) -> list[SimulatedTag]:
    """Tags with stable, distinct MACs (random static addresses start with 0b11 in the top bits)."""
    tags = []
    for index in range(count):
        mac = bytes([0xC0 | rng.randrange(0x40), *rng.randbytes(4), index & 0xFF])
        tags.append(
            SimulatedTag(
                mac=format_mac(mac),
                temperature=round(rng.uniform(18.0, 24.0), 2),
                humidity=round(rng.uniform(30.0, 60.0), 2),
                pressure=rng.randrange(99_000, 103_000),
                battery=round(rng.uniform(2.8, 3.1), 3),
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


def format_timestamp(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a Z, as the firmware prints SNTP time."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def build_gateway_message(
    raw: bytes, *, gateway_id: str, gateway_mac: str, rssi: int, timestamp: datetime
) -> dict[str, Any]:
    """The firmware's MQTT JSON for one Format 5 advertisement (field order as the firmware's)."""
    decoded = decode(raw)
    return {
        "gateway_id": gateway_id,
        "gateway_mac": gateway_mac,
        "mac": decoded.mac,
        "rssi": rssi,
        "timestamp": format_timestamp(timestamp),
        "data_format": decoded.data_format,
        "raw": raw.hex().upper(),
        "temperature": decoded.temperature,
        "humidity": decoded.humidity,
        "pressure": decoded.pressure,
        "acceleration_x": decoded.acceleration_x,
        "acceleration_y": decoded.acceleration_y,
        "acceleration_z": decoded.acceleration_z,
        "battery": decoded.battery,
        "tx_power": decoded.tx_power,
        "movement_counter": decoded.movement_counter,
        "measurement_sequence": decoded.measurement_sequence,
    }
