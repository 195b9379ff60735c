"""Issue 7, end to end: the firmware's own code publishes the official Format 5 vectors and
TimescaleDB stores exactly the vectors' expected values.

The host gateway emulator (built from the firmware's portable core) publishes, as the firmware
would, one message per vector of tests/vectors/ruuvi_format5.json (valid, maximum, minimum,
invalid, then the Ruuvi Gateway advertisement) to the stack's Mosquitto, with its retained
online/offline status around them. The RuuviTag adapter (a real process) turns them into Avro
records on a Kafka topic of this test's own; the sink (a real process) stores them in a
PostgreSQL schema of this test's own.

What the adapter does with each vector (src/iot_pipeline/adapter/validation.py, transform.py):
- valid, maximum, minimum, the advertisement: every value is inside the Format 5 ranges the adapter
  validates against (the maximum's 163.835 % humidity too: those are the codec's ranges, not
  physical ones), so each becomes 9 per-sensor records; values outside the anomaly thresholds
  are stored with is_anomaly set, nothing is dead-lettered.
- invalid: every field is "not available", the MAC too, so the firmware publishes it under its
  default tag MAC with all values null; the adapter accepts the reading (it counts it) and, with
  no available value, produces no record and no dead letter.

The emulator paces its messages (--rate) so that each has its own millisecond timestamp: the
valid, maximum and minimum vectors share a tag MAC, and (device_id, timestamp) is the table's
idempotency key.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.adapter.harness import VECTORS, wait_for
from tests.e2e.adapter.test_adapter_vectors import UNITS
from tests.e2e.firmware.harness import (
    GATEWAY_MAC,
    RSSI,
    Pipeline,
    offsets,
    run_emulator,
    stored_rows,
    wait_sink_committed,
)

pytestmark = pytest.mark.e2e

VECTOR_FILE = VECTORS / "ruuvi_format5.json"
RUUVI = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
PAYLOADS = {v["name"]: v for v in RUUVI["format5_payloads"]}
ADVERTISEMENT = RUUVI["ruuvi_gateway_advertisement"]
ADVERTISEMENT_HEADER = "0201061BFF9904"  # flags, then manufacturer data of Ruuvi (0x0499)

DEFAULT_MAC = "C0:FF:EE:00:00:01"  # the emulator's tag MAC for a payload whose MAC is unavailable

# Every vector as the emulator's --vectors mode sends it, in order: (name, expected, raw payload).
SENT: list[tuple[str, dict[str, Any], str]] = [
    *((v["name"], v["expected"], v["hex"]) for v in RUUVI["format5_payloads"]),
    (
        "advertisement",
        ADVERTISEMENT["expected"],
        ADVERTISEMENT["data"].removeprefix(ADVERTISEMENT_HEADER),
    ),
]
STORED = [name for name, _, _ in SENT if name != "invalid"]

# What the adapter derives (docs/configuration.md defaults), written out per vector: battery
# percent (linear 2.0 V -> 0 %, 3.0 V -> 100 %, 0.1 % steps) and the sensors outside the anomaly
# thresholds (temperature -50..50 °C, humidity 15..100 %, pressure 87000..108500 Pa,
# battery >= 2 V).
BATTERY_PERCENT = {"valid": 97.7, "maximum": 100.0, "minimum": 0.0, "advertisement": 78.4}
ANOMALOUS = {
    "valid": set(),
    "maximum": {"temperature", "humidity", "pressure"},
    "minimum": {"temperature", "humidity", "pressure", "battery"},
    "advertisement": set(),
}

COLUMNS = (
    'device_id, device_type, "timestamp", value, unit, latitude, longitude, location_building, '
    "location_floor, location_zone, battery_level, signal_strength, firmware_version, is_anomaly, "
    "device_metadata, tags, tag_mac, gateway_id, rssi, measurement_sequence"
)


def expected_rows(
    name: str, values: dict[str, Any], raw: str, timestamp: datetime, gateway_id: str
) -> dict[tuple[str, int], dict[str, Any]]:
    """The 9 rows (one per sensor) a vector must become, keyed by (device_id, sequence)."""
    tag_mac = values["mac"]
    rows = {}
    for sensor, unit in UNITS.items():
        device_id = f"{tag_mac.lower()}_{sensor}"
        rows[(device_id, values["measurement_sequence"])] = {
            "device_id": device_id,
            "device_type": f"{sensor}_sensor",
            "timestamp": timestamp,
            "value": float(values[sensor]),
            "unit": unit,
            "latitude": None,
            "longitude": None,
            "location_building": None,
            "location_floor": None,
            "location_zone": None,
            "battery_level": BATTERY_PERCENT[name],
            "signal_strength": float(RSSI),
            "firmware_version": None,
            "is_anomaly": sensor in ANOMALOUS[name],
            "device_metadata": {
                "source": "esp32_firmware",
                "timestamp_source": "payload",
                "data_format": "5",
                "gateway_mac": GATEWAY_MAC,
                "raw": raw,
            },
            "tags": None,
            "tag_mac": tag_mac,
            "gateway_id": gateway_id,
            "rssi": RSSI,
            "measurement_sequence": values["measurement_sequence"],
        }
    return rows


def test_emulator_vectors_are_stored_with_their_expected_values(
    pipeline: Pipeline, firmware_tools, start_adapter, start_sink
) -> None:
    run = pipeline
    mode = ["--vectors", str(VECTOR_FILE), "--default-mac", DEFAULT_MAC, "--rssi", str(RSSI)]
    emulated = run_emulator(
        run, firmware_tools.emulator, mode, len(SENT), start_adapter, start_sink
    )
    adapter, sink = emulated.adapter, emulated.sink

    # What the firmware published: one message per vector, in the vector file's order.
    published = emulated.published
    assert [m["raw"] for m in published] == [raw for _, _, raw in SENT]
    assert [m["mac"] for m in published] == [v["mac"] or DEFAULT_MAC for _, v, _ in SENT]
    invalid = published[[name for name, _, _ in SENT].index("invalid")]
    assert all(
        invalid[field] is None for field in PAYLOADS["invalid"]["expected"] if field != "mac"
    )
    stamps = {
        name: datetime.fromisoformat(m["timestamp"])
        for (name, _, _), m in zip(SENT, published, strict=True)
    }
    assert len(set(stamps.values())) == len(SENT)  # one timestamp each (see the module docstring)

    expected: dict[tuple[str, int], dict[str, Any]] = {}
    for name, values, raw in SENT:
        if name in STORED:
            expected |= expected_rows(name, values, raw, stamps[name], run.gateway_id)
    assert len(expected) == 4 * 9

    # The adapter handled all 7 MQTT messages (online, 5 vectors, offline) and Kafka confirmed
    # 36 records; the invalid vector counted as a reading without records; no dead letter.
    wait_for(
        lambda: (
            adapter.metrics().get("mqtt_adapter_messages_received_total") == 7
            and adapter.metrics().get("mqtt_adapter_records_published_total") == 36
        ),
        30,
        "the adapter to publish the vectors' records",
        adapter,
    )
    metrics = adapter.metrics()
    assert metrics['mqtt_adapter_readings_total{source="esp32_firmware"}'] == len(SENT)
    assert metrics["mqtt_adapter_duplicates_total"] == 0
    assert metrics["mqtt_adapter_ruuvitag_devices_seen"] == 3  # CB:B8.., C0:FF:EE.., E3:75..
    assert metrics['mqtt_adapter_gateway_status_messages_total{state="online"}'] == 1
    assert metrics['mqtt_adapter_gateway_status_messages_total{state="offline"}'] == 1
    assert metrics["mqtt_adapter_gateways_online"] == 0
    assert not any(k.startswith("mqtt_adapter_dead_letters_total") for k in metrics)

    # 36 records on the topic (none from the invalid vector), all stored and committed.
    wait_sink_committed(run, emulated, 36)
    assert offsets(run.sink.settings, run.sink.dlq_topic, run.sink.group)[0] == 0

    rows = stored_rows(run.sink, COLUMNS)
    got = {(r["device_id"], r["measurement_sequence"]): r for r in rows}
    assert len(rows) == len(got) == 36
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        assert got[key] == want, key
    assert not [r for r in rows if r["tag_mac"] == DEFAULT_MAC]  # the invalid vector: no row

    assert adapter.stop() == 0
    assert sink.stop() == 0
