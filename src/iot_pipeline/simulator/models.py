"""Simulated sensors (pure): a device's next reading from its state, the time and a random source.

Values follow a mean-reverting random walk (drift) plus measurement noise, so series look like
real sensors; an anomaly is a value far outside the normal range (and outside the alert
thresholds), flagged `is_anomaly`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SensorModel:
    unit: str
    baseline: float
    drift: float  # standard deviation of one random-walk step
    noise: float  # standard deviation of measurement noise
    low: float  # physical bounds of a normal reading
    high: float
    anomalies: tuple[float, ...]  # values an anomaly jumps to (plus noise)
    decimals: int = 2
    reversion: float = 0.05  # pull of the walk back to the baseline per step


SENSOR_MODELS: dict[str, SensorModel] = {
    "temperature": SensorModel("°C", 21.0, 0.05, 0.1, -20.0, 45.0, (-65.0, 75.0)),
    "humidity": SensorModel("%", 45.0, 0.2, 0.5, 20.0, 95.0, (5.0,)),
    "pressure": SensorModel(
        "Pa", 101_325.0, 10.0, 20.0, 95_000.0, 106_000.0, (80_000.0, 112_000.0), 0
    ),
    "motion": SensorModel("events", 1.0, 0.2, 0.5, 0.0, 10.0, (250.0,), 0),
    "light": SensorModel("lux", 300.0, 10.0, 15.0, 0.0, 2_000.0, (120_000.0,), 1),
}

BUILDINGS = ("HQ", "Lab", "Warehouse")
ZONES = ("north", "south", "east", "west")


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    building: str | None = None
    floor: int | None = None
    zone: str | None = None


@dataclass(frozen=True)
class DeviceSpec:
    device_id: str
    device_type: str
    interval_sec: float
    location: Location | None = None
    firmware_version: str = "1.4.2"


@dataclass
class DeviceState:
    spec: DeviceSpec
    level: float  # the walk's current true value
    battery_level: float = 100.0
    readings: int = field(default=0)


def default_devices(
    count: int, device_types: list[str], interval_sec: float, rng: random.Random
) -> list[DeviceSpec]:
    """`count` devices cycling through the types, each with a plausible indoor location."""
    devices = []
    for index in range(count):
        device_type = device_types[index % len(device_types)]
        location = Location(
            latitude=round(60.1699 + rng.uniform(-0.01, 0.01), 6),
            longitude=round(24.9384 + rng.uniform(-0.01, 0.01), 6),
            building=BUILDINGS[index % len(BUILDINGS)],
            floor=index % 4,
            zone=ZONES[index % len(ZONES)],
        )
        devices.append(
            DeviceSpec(f"sim-{device_type}-{index + 1:03d}", device_type, interval_sec, location)
        )
    return devices


def initial_state(spec: DeviceSpec, rng: random.Random) -> DeviceState:
    model = SENSOR_MODELS[spec.device_type]
    spread = (model.high - model.low) * 0.02
    return DeviceState(spec, model.baseline + rng.uniform(-spread, spread))


def next_reading(
    state: DeviceState, now: datetime, rng: random.Random, anomaly_probability: float
) -> dict[str, Any]:
    """Advance the device one step and return the reading as an Avro-ready record."""
    spec = state.spec
    model = SENSOR_MODELS[spec.device_type]
    step = rng.gauss(0.0, model.drift) + model.reversion * (model.baseline - state.level)
    state.level = min(model.high, max(model.low, state.level + step))
    state.battery_level = max(0.0, state.battery_level - rng.uniform(0.0, 0.001))
    state.readings += 1
    is_anomaly = rng.random() < anomaly_probability
    if is_anomaly:
        value = rng.choice(model.anomalies) + rng.gauss(0.0, model.noise)
    else:
        value = min(model.high, max(model.low, state.level + rng.gauss(0.0, model.noise)))
    if spec.device_type == "motion":
        value = max(0.0, value)
    location = spec.location
    return {
        "device_id": spec.device_id,
        "device_type": spec.device_type,
        "timestamp": now,
        "value": round(value, model.decimals),
        "unit": model.unit,
        "location": None
        if location is None
        else {
            "latitude": location.latitude,
            "longitude": location.longitude,
            "building": location.building,
            "floor": location.floor,
            "zone": location.zone,
        },
        "battery_level": round(state.battery_level, 2),
        "signal_strength": float(round(rng.gauss(-65.0, 6.0))),
        "firmware_version": spec.firmware_version,
        "is_anomaly": is_anomaly,
        "metadata": {"source": "simulator", "sequence": str(state.readings)},
        "tag_mac": None,
        "gateway_id": None,
        "rssi": None,
        "measurement_sequence": None,
    }
