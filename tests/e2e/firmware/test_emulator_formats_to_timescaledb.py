"""Issue 13 item 7, end to end: the firmware's own code publishes every Format 3, 6 and E1 test
vector (valid, maximum, minimum, invalid) and TimescaleDB stores exactly the vectors' values.

The host gateway emulator (the firmware's portable core, ``--all-formats`` like the firmware's
menuconfig option) reads one advertisement per line with the tag's BLE address, as the radio
reports it, and publishes the firmware's JSON to the stack's Mosquitto; the RuuviTag adapter (a
real process) turns the messages into Avro records on a topic of this test's own; the sink (a
real process) stores them in a PostgreSQL schema of this test's own.

Each vector has its own tag address, except E1's valid, maximum and minimum vectors, which carry
the same full MAC (and differ in sequence). A Format 6 tag's address ends with the 3 MAC bytes
its payload carries (the adapter checks them); no Format 6 tag is heard in E1, so none is
dropped by the E1-over-6 rule. What each vector must become, written out here: one record per
available value, in the units of the issue (µg/m³, ppm, index, lx; Format 3: those of Format 5);
an all-"not available" Format 6 or E1 vector is a reading without records; Format 3 has no
"not available" value, so its all-0xFF vector is stored as the numbers it decodes to.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.adapter.harness import VECTORS, wait_for
from tests.e2e.firmware.harness import (
    RSSI,
    Pipeline,
    run_emulator,
    stored_rows,
    wait_sink_committed,
)

pytestmark = pytest.mark.e2e

VECTOR_FILE = VECTORS / "ruuvi_other_formats.json"
OTHER = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
VECTORS_BY_NAME = {v["name"]: v for v in OTHER["vectors"]}

# (reading field, sensor, unit) per data format, in record order (written out on purpose).
_AIR_HEAD = [("temperature", "temperature", "°C"), ("humidity", "humidity", "%")]
_AIR_HEAD += [("pressure", "pressure", "Pa")]
_AIR_TAIL = [
    ("co2", "co2", "ppm"),
    ("voc_index", "voc_index", "index"),
    ("nox_index", "nox_index", "index"),
    ("luminosity", "illuminance", "lx"),
]
SENSORS = {
    3: [
        *_AIR_HEAD,
        ("acceleration_x", "acceleration_x", "g"),
        ("acceleration_y", "acceleration_y", "g"),
        ("acceleration_z", "acceleration_z", "g"),
        ("battery", "battery", "V"),
    ],
    6: [*_AIR_HEAD, ("pm2_5", "pm2_5", "µg/m³"), *_AIR_TAIL],
    0xE1: [
        *_AIR_HEAD,
        *((pm, pm, "µg/m³") for pm in ("pm1_0", "pm2_5", "pm4_0", "pm10_0")),
        *_AIR_TAIL,
    ],
}
# The adapter's default anomaly thresholds (docs/configuration.md).
THRESHOLDS = {
    "temperature": (-50.0, 50.0),
    "humidity": (15.0, 100.0),
    "pressure": (87000.0, 108500.0),
    "battery": (2.0, None),
}


def _tag(name: str, index: int) -> str:
    """The BLE address the radio reports for the vector's tag."""
    mac = VECTORS_BY_NAME[name]["expected"]["mac"]
    if name.startswith("formatE1"):
        return mac or "E1:00:00:00:00:99"
    if name.startswith("format6"):
        return f"F6:00:{index:02X}:" + (mac or "00:00:00")
    return f"03:00:00:00:00:{index:02X}"


SENT = [(v["name"], _tag(v["name"], i), v["hex"]) for i, v in enumerate(OTHER["vectors"], 1)]


def _anomalous(sensor: str, value: float) -> bool:
    low, high = THRESHOLDS.get(sensor, (None, None))
    return (low is not None and value < low) or (high is not None and value > high)


def expected_rows(name: str, tag: str, stamp: datetime) -> dict[tuple[str, datetime], Any]:
    values = VECTORS_BY_NAME[name]["expected"]
    rows = {}
    for field, sensor, unit in SENSORS[values["data_format"]]:
        if values[field] is None:
            continue
        device_id = f"{tag.lower()}_{sensor}"
        calibration = values.get("calibration_in_progress")
        rows[(device_id, stamp)] = {
            "device_type": f"{sensor}_sensor",
            "value": float(values[field]),
            "unit": unit,
            "is_anomaly": _anomalous(sensor, float(values[field])),
            "tag_mac": tag,
            "measurement_sequence": values["measurement_sequence"],
            "data_format": str(values["data_format"]),
            "calibration": None if calibration is None else str(calibration).lower(),
        }
    return rows


STORED_COLUMNS = (
    'device_id, "timestamp", device_type, value, unit, is_anomaly, tag_mac, measurement_sequence, '
    "device_metadata->>'data_format' AS data_format, "
    "device_metadata->>'calibration_in_progress' AS calibration"
)


def stored(run: Pipeline) -> dict[tuple[str, datetime], Any]:
    return {
        (r["device_id"], r["timestamp"]): {
            k: v for k, v in r.items() if k not in ("device_id", "timestamp")
        }
        for r in stored_rows(run.sink, STORED_COLUMNS)
    }


def test_emulator_other_format_vectors_are_stored_with_their_expected_values(
    pipeline: Pipeline,
    firmware_tools,
    start_adapter,
    start_sink,
    tmp_path,
) -> None:
    run = pipeline
    lines = tmp_path / "advertisements.txt"
    lines.write_text("".join(f"{tag} {RSSI} {hex_}\n" for _, tag, hex_ in SENT))
    mode = ["--input", str(lines), "--all-formats"]
    emulated = run_emulator(
        run, firmware_tools.emulator, mode, len(SENT), start_adapter, start_sink
    )
    adapter = emulated.adapter

    published = emulated.published
    assert [(m["mac"], m["raw"]) for m in published] == [(tag, h) for _, tag, h in SENT]
    stamps = [datetime.fromisoformat(m["timestamp"]) for m in published]
    expected: dict[tuple[str, datetime], Any] = {}
    for (name, tag, _), stamp in zip(SENT, stamps, strict=True):
        expected |= expected_rows(name, tag, stamp)
    # Format 3: 4 x 7 values; Format 6: 3 x 8 (invalid: none); E1: 3 x 11 (invalid: none).
    assert len(expected) == 4 * 7 + 3 * 8 + 3 * 11

    wait_for(
        lambda: adapter.metrics().get("mqtt_adapter_records_published_total") == len(expected),
        30,
        "the adapter to publish the vectors' records",
        adapter,
    )
    metrics = adapter.metrics()
    assert metrics['mqtt_adapter_readings_total{source="esp32_firmware"}'] == len(SENT)
    assert metrics["mqtt_adapter_duplicates_total"] == 0
    assert metrics["mqtt_adapter_format6_dropped_total"] == 0
    assert not any(k.startswith("mqtt_adapter_dead_letters_total") for k in metrics)

    wait_sink_committed(run, emulated, len(expected))
    rows = stored(run)
    assert rows.keys() == expected.keys()
    for key, want in expected.items():
        assert rows[key] == want, key
    assert adapter.stop() == 0
    assert emulated.sink.stop() == 0
