"""End-to-end helpers for the lake archiver: its settings next to the sink's, the archiver as a
real process, readings with every optional field set, and the table read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from devstack.kafka_auth import LAKE
from iot_pipeline.config import Settings, load_settings
from iot_pipeline.lake.catalog import open_catalog, open_table
from iot_pipeline.lake.writer import LakeWriter
from tests.conftest import stack_kafka_login
from tests.e2e.processes import ServiceProcess
from tests.e2e.sink.harness import SinkEnv


def lake_env(env: SinkEnv, lake_dir: Path, port: int, **overrides: str) -> dict[str, str]:
    """The archiver's environment: the sink test's topic, its own group and lake folder, and
    small rolls so that a short test makes many commits."""
    return env.env(
        LAKE_DIR=str(lake_dir),
        LAKE_TABLE="iot.sensor_readings",
        LAKE_CONSUMER_GROUP_ID=f"{env.group}-lake",
        LAKE_METRICS_PORT=str(port),
        LAKE_ROLL_INTERVAL="1",
        LAKE_ROLL_BYTES="200000",
        **overrides,
    )


def lake_settings(env: dict[str, str]) -> Settings:
    return load_settings(
        lake_dir=Path(env["LAKE_DIR"]),
        lake_table=env["LAKE_TABLE"],
        kafka_topic_name=env["KAFKA_TOPIC_NAME"],
        lake_consumer_group_id=env["LAKE_CONSUMER_GROUP_ID"],
    )


def table_writer(env: dict[str, str]) -> LakeWriter:
    settings = lake_settings(env)
    table = open_table(open_catalog(settings), settings)
    return LakeWriter(table, settings.kafka_topic_name, settings.lake_consumer_group_id)


def archived(env: dict[str, str]) -> pa.Table:
    return table_writer(env).table.scan().to_arrow()


def full_readings(prefix: str, count: int, devices: int = 12) -> list[dict[str, Any]]:
    """Readings with the optional fields set (location, tag context, battery, signal ...)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    out = []
    for i in range(count):
        device = i % devices
        out.append(
            {
                "device_id": f"{prefix}-{device:03d}_temperature",
                "device_type": "temperature",
                "timestamp": start + timedelta(milliseconds=25 * (i // devices)),
                "value": round(18.0 + (i % 97) / 7, 3),
                "unit": "°C",
                "location": {
                    "latitude": 60.17 + device / 1000,
                    "longitude": 24.94,
                    "building": "B1" if device % 2 else None,
                    "floor": device % 4,
                    "zone": None,
                },
                "battery_level": 50.0 + device,
                "signal_strength": -60.0 - device,
                "firmware_version": "3.31.1",
                "is_anomaly": i % 89 == 0,
                "metadata": {"test": prefix, "n": str(device)},
                "tag_mac": f"AA:BB:CC:00:00:{device:02X}",
                "gateway_id": "gw-e2e",
                "rssi": -70 - device,
                "measurement_sequence": i // devices,
            }
        )
    return out


class ArchiverProcess(ServiceProcess):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__("run_lake_archiver.py", {**env, **stack_kafka_login(LAKE)}, log)
