"""Which per-sensor records a decoded Ruuvi reading becomes, with units (pure, no I/O).

The adapter turns one reading into one Avro ``iot_sensor_reading`` record per available value:
device_id ``<tag mac lower-case>_<sensor>``, device_type ``<sensor>_sensor``, the unit below.
This module says, per data format, which reading field becomes which sensor (precomputed tuples,
so the Format 5 hot path stays a plain loop), which derived sensors a reading adds
(``derived.py``), what per-reading context goes into the record's metadata (Ruuvi Air's
calibration flag) and what identifies a measurement for duplicate suppression.

New sensor types and units (no Avro schema change: device_type and unit are strings, metadata a
string map, measurement_sequence an int that holds E1's 24 bits):

==================  =========  ==================================================
sensor              unit       from
==================  =========  ==================================================
pm1_0 .. pm10_0     µg/m³      E1 (Format 6: pm2_5 only)
co2                 ppm        6, E1
voc_index           index      6, E1 (Sensirion VOC index, 100 = the room's average)
nox_index           index      6, E1 (Sensirion NOx index, 1 = the room's baseline)
illuminance         lx         6, E1 (the decoders' ``luminosity`` field)
dew_point           °C         derived, every tag with temperature and humidity
absolute_humidity   g/m³       derived, every tag with temperature and humidity
air_quality_index   IAQS       derived, 6 and E1 (Ruuvi IAQS 0..100)
==================  =========  ==================================================
"""

from __future__ import annotations

import zlib
from typing import Any, Final, NamedTuple

from iot_pipeline.ruuvi.derived import DERIVED_SENSORS, derived_values


class SensorField(NamedTuple):
    field: str  # attribute of the decoded reading
    sensor: str  # sensor name: the device_id suffix
    device_type: str
    unit: str


def _fields(*items: tuple[str, str, str]) -> tuple[SensorField, ...]:
    return tuple(
        SensorField(field, sensor, f"{sensor}_sensor", unit) for field, sensor, unit in items
    )


_TAG: Final = (
    ("temperature", "temperature", "°C"),
    ("humidity", "humidity", "%"),
    ("pressure", "pressure", "Pa"),
    ("acceleration_x", "acceleration_x", "g"),
    ("acceleration_y", "acceleration_y", "g"),
    ("acceleration_z", "acceleration_z", "g"),
    ("battery", "battery", "V"),
    ("tx_power", "tx_power", "dBm"),
    ("movement_counter", "movement_counter", "count"),
)
_AIR_HEAD: Final = (
    ("temperature", "temperature", "°C"),
    ("humidity", "humidity", "%"),
    ("pressure", "pressure", "Pa"),
)
_AIR_TAIL: Final = (
    ("co2", "co2", "ppm"),
    ("voc_index", "voc_index", "index"),
    ("nox_index", "nox_index", "index"),
    ("luminosity", "illuminance", "lx"),
)
_PM: Final = {name: (name, name, "µg/m³") for name in ("pm1_0", "pm2_5", "pm4_0", "pm10_0")}

# data format -> the reading's sensor fields, in record order. Format 3 shares Format 5's
# (its tx_power and movement_counter are always None, so they produce no record).
SENSORS_BY_FORMAT: Final[dict[int, tuple[SensorField, ...]]] = {
    3: _fields(*_TAG),
    5: _fields(*_TAG),
    6: _fields(*_AIR_HEAD, _PM["pm2_5"], *_AIR_TAIL),
    0xE1: _fields(*_AIR_HEAD, *_PM.values(), *_AIR_TAIL),
}
DERIVED_FIELDS: Final = {
    sensor: SensorField(sensor, sensor, f"{sensor}_sensor", unit)
    for sensor, unit in DERIVED_SENSORS
}
UNITS: Final = {
    f.sensor: f.unit
    for fields in (*SENSORS_BY_FORMAT.values(), DERIVED_FIELDS.values())
    for f in fields
}


def sensor_values(reading: Any, derived: bool) -> list[tuple[SensorField, float]]:
    """Every available value of ``reading`` (any format) as (sensor, value), in record order;
    with ``derived``, the derived quantities after the measured ones. Not-available values (None)
    produce nothing."""
    out = []
    for field in SENSORS_BY_FORMAT[reading.data_format]:
        value = getattr(reading, field.field)
        if value is not None:
            out.append((field, float(value)))
    if derived:
        out += [(DERIVED_FIELDS[name], value) for name, value in derived_values(reading).items()]
    return out


def reading_metadata(reading: Any) -> dict[str, str]:
    """Per-reading context for the record's metadata (strings): Ruuvi Air's calibration flag
    ("true" while its sensors are still calibrating and values are not fully accurate)."""
    calibration = getattr(reading, "calibration_in_progress", None)
    if calibration is None:
        return {}
    return {"calibration_in_progress": "true" if calibration else "false"}


def measurement_key(reading: Any, payload: bytes | None) -> int | None:
    """What identifies one measurement of a tag for duplicate suppression (with the tag MAC).

    Formats 5, 6, E1: the measurement sequence (E1's is 24 bits; a tag is heard in Format 6 or
    E1, not both, after ``AirFormatPreference``). Format 3 has no sequence: a tag repeats the
    same payload until its next measurement, so the payload itself identifies it (CRC-32 of the
    bytes, offset past 2^24 so it cannot equal an E1/Format 5 sequence); None when no payload
    is known (nothing identifies the measurement: never a duplicate)."""
    if reading.data_format == 3:
        return None if payload is None else (1 << 24) + zlib.crc32(payload)
    sequence: int | None = reading.measurement_sequence
    return sequence
