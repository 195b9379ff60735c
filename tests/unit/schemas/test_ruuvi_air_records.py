"""The Avro contract needs no change for formats 3, 6 and E1: their per-sensor records (new
sensor types, units, derived values, the calibration flag in metadata, E1's 24-bit sequence)
are valid iot_sensor_reading records as the schema stands."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import pytest

from iot_pipeline.ruuvi import decode_any_hex
from iot_pipeline.ruuvi.sensors import measurement_key, reading_metadata, sensor_values
from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "ruuvi_other_formats.json").read_text("utf-8")
)["vectors"]
SCHEMA = fastavro.parse_schema(json.loads(load_schema(READING_SCHEMA_FILE)))


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_records_of_every_vector_fit_the_schema(vector: dict) -> None:
    raw = bytes.fromhex(vector["hex"])
    reading = decode_any_hex(vector["hex"])
    tag_mac = "CB:B8:33:4C:88:4F"
    for sensor, value in sensor_values(reading, derived=True):
        record = {
            "device_id": f"{tag_mac.lower()}_{sensor.sensor}",
            "device_type": sensor.device_type,
            "timestamp": 1_795_441_020_123,
            "value": value,
            "unit": sensor.unit,
            "metadata": {"data_format": str(reading.data_format), **reading_metadata(reading)},
            "tag_mac": tag_mac,
            "measurement_sequence": measurement_key(reading, raw)
            if reading.data_format != 3
            else None,
        }
        assert fastavro.validation.validate(record, SCHEMA, raise_errors=True)


def test_e1_largest_sequence_fits_the_int_field() -> None:
    reading = decode_any_hex(next(v["hex"] for v in VECTORS if v["name"] == "formatE1_maximum"))
    assert reading.measurement_sequence == 16_777_214 < 2**31
