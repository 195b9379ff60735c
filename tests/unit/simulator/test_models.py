import random
from datetime import UTC, datetime

import pytest

from iot_pipeline.simulator.models import (
    SENSOR_MODELS,
    default_devices,
    initial_state,
    next_reading,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_default_devices_cycle_through_types_with_unique_ids():
    devices = default_devices(8, ["temperature", "humidity", "pressure"], 1.0, random.Random(1))
    assert [d.device_type for d in devices[:4]] == [
        "temperature",
        "humidity",
        "pressure",
        "temperature",
    ]
    assert len({d.device_id for d in devices}) == 8
    assert devices[0].device_id == "sim-temperature-001"


@pytest.mark.parametrize("device_type", sorted(SENSOR_MODELS))
def test_normal_readings_stay_in_bounds(device_type):
    rng = random.Random(42)
    spec = default_devices(1, [device_type], 1.0, rng)[0]
    state = initial_state(spec, rng)
    model = SENSOR_MODELS[device_type]
    for _ in range(2000):
        record = next_reading(state, NOW, rng, 0.0)
        assert model.low <= record["value"] <= model.high
        assert record["is_anomaly"] is False
        assert record["unit"] == model.unit


@pytest.mark.parametrize("device_type", sorted(SENSOR_MODELS))
def test_anomalies_are_flagged_and_outside_normal_bounds(device_type):
    rng = random.Random(9)
    spec = default_devices(1, [device_type], 1.0, rng)[0]
    state = initial_state(spec, rng)
    model = SENSOR_MODELS[device_type]
    for _ in range(100):
        record = next_reading(state, NOW, rng, 1.0)
        assert record["is_anomaly"] is True
        assert not model.low <= record["value"] <= model.high


def test_anomaly_rate_follows_the_probability():
    rng = random.Random(5)
    spec = default_devices(1, ["temperature"], 1.0, rng)[0]
    state = initial_state(spec, rng)
    flagged = sum(next_reading(state, NOW, rng, 0.05)["is_anomaly"] for _ in range(20_000))
    assert 800 < flagged < 1200


def test_same_seed_same_series():
    def series(seed):
        rng = random.Random(seed)
        spec = default_devices(1, ["humidity"], 1.0, rng)[0]
        state = initial_state(spec, rng)
        return [next_reading(state, NOW, rng, 0.05)["value"] for _ in range(50)]

    assert series(11) == series(11)
    assert series(11) != series(12)
