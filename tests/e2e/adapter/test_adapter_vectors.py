"""Firmware-format and Ruuvi-Gateway-format messages built from the official test vectors go
through the real adapter process (Mosquitto -> adapter -> Kafka with Avro via the registry), and a
consumer reads back exactly the expected per-sensor records with exact values."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.adapter.harness import VECTORS, now_iso, read_dead_letters, read_records

pytestmark = pytest.mark.e2e

RUUVI = json.loads((VECTORS / "ruuvi_format5.json").read_text(encoding="utf-8"))
FIRMWARE = json.loads((VECTORS / "esp32_gateway_message.json").read_text(encoding="utf-8"))
PAYLOADS = {v["name"]: v for v in RUUVI["format5_payloads"]}
ADVERTISEMENT = RUUVI["ruuvi_gateway_advertisement"]

# The contract's sensors and units (CONTRACT.md), and the default anomaly thresholds
# (docs/configuration.md: ADAPTER_ANOMALY_THRESHOLDS), written out here on purpose.
UNITS = {
    "temperature": "°C",
    "humidity": "%",
    "pressure": "Pa",
    "acceleration_x": "g",
    "acceleration_y": "g",
    "acceleration_z": "g",
    "battery": "V",
    "tx_power": "dBm",
    "movement_counter": "count",
}
THRESHOLDS = {
    "temperature": (-50.0, 50.0),
    "humidity": (15.0, 100.0),
    "pressure": (87000.0, 108500.0),
    "battery": (2.0, None),
}


def _anomalous(sensor: str, value: float) -> bool:
    low, high = THRESHOLDS.get(sensor, (None, None))
    return (low is not None and value < low) or (high is not None and value > high)


def _expected(
    values: dict[str, Any], tag_mac: str, gateway_id: str, rssi: int, timestamp: datetime
) -> dict[tuple[str, int], dict[str, Any]]:
    out = {}
    for sensor, unit in UNITS.items():
        device_id = f"{tag_mac.lower()}_{sensor}"
        out[(device_id, values["measurement_sequence"])] = {
            "device_id": device_id,
            "device_type": f"{sensor}_sensor",
            "value": float(values[sensor]),
            "unit": unit,
            "timestamp": timestamp,
            "tag_mac": tag_mac,
            "gateway_id": gateway_id,
            "rssi": rssi,
            "signal_strength": float(rssi),
            "measurement_sequence": values["measurement_sequence"],
            "is_anomaly": _anomalous(sensor, float(values[sensor])),
            "_key": device_id.encode(),
        }
    return out


def _ms(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


def test_official_vectors_in_both_formats_arrive_exactly(
    adapter_env, start_adapter, publisher_factory
) -> None:
    adapter = start_adapter(adapter_env)
    adapter.wait_connected()
    publisher = publisher_factory(adapter_env.mqtt_port)
    expected: dict[tuple[str, int], dict[str, Any]] = {}

    # 1. The firmware's own example message (the official "valid" vector).
    firmware = dict(FIRMWARE["payload"], timestamp=now_iso())
    publisher.publish(adapter_env.data_topic, firmware)
    expected |= _expected(
        PAYLOADS["valid"]["expected"],
        "CB:B8:33:4C:88:4F",
        "esp32-gw-01",
        -67,
        _ms(firmware["timestamp"]),
    )

    # 2. Firmware messages carrying the maximum, minimum and invalid vectors.
    for name, rssi in (("maximum", -40), ("minimum", -99), ("invalid", -70)):
        vector = PAYLOADS[name]
        message = {
            **FIRMWARE["payload"],
            **vector["expected"],
            "mac": "CB:B8:33:4C:88:4F",
            "raw": vector["hex"],
            "rssi": rssi,
            "timestamp": now_iso(),
        }
        publisher.publish(adapter_env.data_topic, message)
        if name != "invalid":  # every value "not available": no record at all
            expected |= _expected(
                vector["expected"],
                "CB:B8:33:4C:88:4F",
                "esp32-gw-01",
                rssi,
                _ms(message["timestamp"]),
            )

    # 3. The official Ruuvi Gateway advertisement, gateway firmware >= 1.15 (integer timestamps).
    gw_mac, tag_mac = "C8:25:2D:8E:9C:2C", ADVERTISEMENT["expected"]["mac"]
    ts = int(time.time()) - 1
    gateway = {
        "gw_mac": gw_mac,
        "rssi": -26,
        "aoa": [],
        "gwts": ts + 1,
        "ts": ts,
        "data": ADVERTISEMENT["data"],
        "coords": "",
    }
    publisher.publish(adapter_env.gateway_topic(gw_mac, tag_mac), gateway)
    expected |= _expected(
        ADVERTISEMENT["expected"], tag_mac, gw_mac, -26, datetime.fromtimestamp(ts, UTC)
    )

    # 4. The same advertisement through a second, older gateway (string timestamps): a duplicate.
    second = {
        "gw_mac": "AA:11:22:33:44:55",
        "rssi": -80,
        "aoa": [],
        "gwts": str(ts),
        "ts": str(ts),
        "data": ADVERTISEMENT["data"],
        "coords": "",
    }
    publisher.publish(adapter_env.gateway_topic("AA:11:22:33:44:55", tag_mac), second)

    # 5. Status messages of both gateway kinds: metrics, not records and not errors.
    publisher.publish(
        adapter_env.status_prefix + "esp32-gw-01", FIRMWARE["status_payloads"]["online"]
    )
    publisher.publish(f"{adapter_env.prefix}/ruuvi/{gw_mac}/gw_status", {"state": "online"})
    publisher.wait_all()

    records = read_records(adapter_env.settings, adapter_env.topic, expected=len(expected))
    assert len(records) == len(expected) == 36
    got = {(r["device_id"], r["measurement_sequence"]): r for r in records}
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        record = got[key]
        for field, value in want.items():
            assert record[field] == value, (key, field, record[field], value)
        assert record["location"] is None
        assert record["firmware_version"] is None
        assert record["metadata"]["timestamp_source"] == "payload"

    assert read_dead_letters(adapter_env.settings, adapter_env.dlq_topic, 0, timeout=5) == []
    metrics = adapter.metrics()
    assert metrics["mqtt_adapter_messages_received_total"] == 8
    assert metrics["mqtt_adapter_duplicates_total"] == 1
    assert metrics["mqtt_adapter_gateways_online"] == 2
    assert metrics["mqtt_adapter_ruuvitag_devices_seen"] == 2
    assert metrics['mqtt_adapter_readings_total{source="esp32_firmware"}'] == 4
    assert metrics['mqtt_adapter_readings_total{source="ruuvi_gateway"}'] == 1
    assert metrics["mqtt_adapter_records_published_total"] == 36
    assert not any(k.startswith("mqtt_adapter_dead_letters_total") for k in metrics)
    assert adapter.stop() == 0
