"""Shared helpers of the lake unit tests: readings as the decoder yields them, and a real
embedded catalog (pyiceberg SQL catalog on SQLite + a local warehouse) in a temporary folder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from iot_pipeline.config import Settings, load_settings

BASE = datetime(2026, 3, 1, 23, 59, 58, tzinfo=UTC)


def reading(i: int, device: str = "dev-1", **extra: Any) -> dict[str, Any]:
    """The i-th reading of a device, one second apart (crosses midnight at i=2)."""
    return {
        "device_id": device,
        "device_type": "temperature",
        "timestamp": BASE + timedelta(seconds=i),
        "value": 20.0 + i,
        "unit": "°C",
        "location": None,
        "battery_level": None,
        "signal_strength": -60.0,
        "firmware_version": None,
        "is_anomaly": False,
        "metadata": {"source": "test"},
        "tag_mac": None,
        "gateway_id": None,
        "rssi": None,
        "measurement_sequence": i,
        **extra,
    }


@pytest.fixture
def make_reading() -> Callable[..., dict[str, Any]]:
    return reading


@pytest.fixture
def lake_settings(tmp_path: Path) -> Settings:
    return load_settings(lake_dir=tmp_path / "lake", lake_table="iot.readings_test")
