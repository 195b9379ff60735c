"""One RuuviTag reading into per-sensor records of the Avro record iot_sensor_reading (pure).

Each available sensor value becomes one record: device_id ``<tag mac lower-case>_<sensor>``,
device_type ``<sensor>_sensor``, the unit of the contract, the tag and gateway context in the
RuuviTag fields, and ``is_anomaly`` from the configured thresholds. Not-available values (None)
produce no record. Which fields of a reading become which sensors, per data format (3, 5, 6, E1),
and their units are ``iot_pipeline.ruuvi.sensors``; with ``derived`` the derived quantities
(dew point, absolute humidity, Ruuvi Air's IAQS) follow the measured values. Ruuvi Air's
calibration flag travels in the metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, NamedTuple

from iot_pipeline.adapter.validation import TagReading
from iot_pipeline.ruuvi.derived import derived_values
from iot_pipeline.ruuvi.sensors import DERIVED_FIELDS, SENSORS_BY_FORMAT, UNITS
from iot_pipeline.ruuvi.sensors import reading_metadata as values_metadata

# (field of the reading, unit) of a Format 5 reading, in the order records are produced.
SENSORS: Final[tuple[tuple[str, str], ...]] = tuple(
    (field.sensor, field.unit) for field in SENSORS_BY_FORMAT[5]
)
SENSOR_NAMES: Final = tuple(name for name, _ in SENSORS)
# Every sensor any reading can produce, derived ones included (thresholds may name any of them).
ALL_SENSOR_NAMES: Final = tuple(UNITS)
# The most records one reading can produce (every measured field of a format, plus derived).
MAX_RECORDS: Final = max(len(fields) for fields in SENSORS_BY_FORMAT.values()) + len(DERIVED_FIELDS)
_AIR_FORMATS: Final = frozenset({6, 0xE1})  # readings whose metadata has more context


@dataclass(frozen=True, slots=True)
class Threshold:
    """A value below ``low`` or above ``high`` is an anomaly (None: no bound on that side)."""

    low: float | None = None
    high: float | None = None

    def is_anomaly(self, value: float) -> bool:
        return (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        )


# The seed design's alert thresholds; the service passes the configured ones.
DEFAULT_THRESHOLDS: Final[Mapping[str, Threshold]] = {
    "temperature": Threshold(-50.0, 50.0),
    "humidity": Threshold(15.0, 100.0),
    "pressure": Threshold(87000.0, 108500.0),
    "battery": Threshold(2.0, None),
}


@dataclass(frozen=True, slots=True)
class BatteryModel:
    """Battery voltage to an estimated charge percentage, linear between empty and full
    (a CR2477 coin cell: about 3.0 V fresh, the tag browns out near 2.0 V)."""

    empty_volts: float = 2.0
    full_volts: float = 3.0

    def percent(self, volts: float) -> float:
        fraction = (volts - self.empty_volts) / (self.full_volts - self.empty_volts)
        return round(min(1.0, max(0.0, fraction)) * 100, 1)


def device_id(tag_mac: str, sensor: str) -> str:
    """``cb:b8:33:4c:88:4f_temperature`` for tag CB:B8:33:4C:88:4F."""
    return f"{tag_mac.lower()}_{sensor}"


def reading_metadata(reading: TagReading) -> dict[str, str]:
    """String context kept with every record (bounded: a few fixed keys)."""
    metadata = {
        "source": reading.source.value,
        "timestamp_source": reading.timestamp_source.value,
        "data_format": str(reading.values.data_format),
    }
    if reading.gateway_mac is not None:
        metadata["gateway_mac"] = reading.gateway_mac
    if reading.raw is not None:
        metadata["raw"] = reading.raw
    if reading.values.data_format in _AIR_FORMATS:
        metadata.update(values_metadata(reading.values))
    return metadata


class SensorRecord(NamedTuple):
    """What one record of a reading has of its own (the rest is ReadingRecords.shared)."""

    device_id: str
    device_type: str
    value: float
    unit: str
    is_anomaly: bool


@dataclass(frozen=True, slots=True)
class ReadingRecords:
    """The per-sensor records of one reading: the fields every record shares, once, and each
    sensor's own fields (so an encoder can encode the shared part once per reading)."""

    shared: Mapping[str, Any]
    sensors: tuple[SensorRecord, ...]

    def as_dicts(self) -> list[dict[str, Any]]:
        """The records as dicts matching iot_sensor_reading."""
        return [
            {**sensor._asdict(), **self.shared, "metadata": dict(self.shared["metadata"])}
            for sensor in self.sensors
        ]


_INF: Final = float("inf")
_MAX_TAGS: Final = 10_000  # tags whose device ids RecordMaker keeps (~2 kB each)
# A SensorRecord from a tuple, without NamedTuple's Python-level __new__ (the hot path).
_new_sensor_record: Final = partial(tuple.__new__, SensorRecord)


def _bounds(threshold: Threshold | None) -> tuple[float, float]:
    """(low, high) of a threshold with no bound as -inf/inf: ``value < low or value > high``
    is then Threshold.is_anomaly (and False for NaN, as there)."""
    if threshold is None:
        return -_INF, _INF
    low = -_INF if threshold.low is None else threshold.low
    high = _INF if threshold.high is None else threshold.high
    return low, high


class RecordMaker:
    """reading_records() with its configuration resolved once: per data format, each sensor's
    field, names, unit and anomaly bounds in record order (what the adapter calls per message)."""

    def __init__(
        self,
        thresholds: Mapping[str, Threshold],
        battery: BatteryModel | None = None,
        derived: bool = False,
    ) -> None:
        self._battery = battery or BatteryModel()
        self._derived = derived
        self._plans = {
            data_format: tuple(
                (field, sensor, device_type, unit, *_bounds(thresholds.get(sensor)))
                for field, sensor, device_type, unit in fields
            )
            for data_format, fields in SENSORS_BY_FORMAT.items()
        }
        # Per tag, each sensor's device_id: built once, so the same string objects (their hash
        # cached) key the encoder's caches on every reading (bounded).
        self._device_ids: dict[str, dict[str, str]] = {}
        self._derived_plan = {
            sensor: (spec.device_type, spec.unit, *_bounds(thresholds.get(sensor)))
            for sensor, spec in DERIVED_FIELDS.items()
        }

    @property
    def derived(self) -> bool:
        return self._derived

    def battery_percent(self, volts: float) -> float:
        return self._battery.percent(volts)

    def plan(self, data_format: int) -> tuple[tuple[str, str, str, str, float, float], ...]:
        """(field, sensor, device_type, unit, low, high) of each measured sensor of a data
        format, in record order: what __call__ makes records of (record_writer reuses it)."""
        return self._plans[data_format]

    def derived_plan(self) -> Mapping[str, tuple[str, str, float, float]]:
        """sensor: (device_type, unit, low, high) of each derived quantity."""
        return self._derived_plan

    def __call__(self, reading: TagReading) -> ReadingRecords:
        values = reading.values
        volts = getattr(values, "battery", None)  # Ruuvi Air reports no battery
        shared = {
            "timestamp": reading.timestamp,
            "location": None,
            "battery_level": None if volts is None else self._battery.percent(volts),
            "signal_strength": None if reading.rssi is None else float(reading.rssi),
            "firmware_version": None,
            "metadata": reading_metadata(reading),
            "tag_mac": reading.tag_mac,
            "gateway_id": reading.gateway_id,
            "rssi": reading.rssi,
            "measurement_sequence": values.measurement_sequence,
        }
        ids = self._device_ids.get(reading.tag_mac) or self._ids_of(reading.tag_mac)
        new = _new_sensor_record
        sensors = []
        for field, sensor, device_type, unit, low, high in self._plans[values.data_format]:
            raw_value = getattr(values, field)
            if raw_value is None:
                continue
            value = float(raw_value)
            sensors.append(
                new((ids[sensor], device_type, value, unit, value < low or value > high))
            )
        if self._derived:
            plan = self._derived_plan
            for sensor, value in derived_values(values).items():
                device_type, unit, low, high = plan[sensor]
                sensors.append(
                    new((ids[sensor], device_type, value, unit, value < low or value > high))
                )
        return ReadingRecords(shared, tuple(sensors))

    def _ids_of(self, tag_mac: str) -> dict[str, str]:
        if len(self._device_ids) >= _MAX_TAGS:
            self._device_ids.clear()
        ids = {sensor: device_id(tag_mac, sensor) for sensor in ALL_SENSOR_NAMES}
        self._device_ids[tag_mac] = ids
        return ids


def reading_records(
    reading: TagReading,
    thresholds: Mapping[str, Threshold],
    battery: BatteryModel | None = None,
    derived: bool = False,
) -> ReadingRecords:
    """The per-sensor records for one reading, shared fields apart; with ``derived``, the
    derived quantities' records after the measured ones."""
    return RecordMaker(thresholds, battery, derived)(reading)


def to_records(
    reading: TagReading,
    thresholds: Mapping[str, Threshold],
    battery: BatteryModel | None = None,
    derived: bool = False,
) -> list[dict[str, Any]]:
    """The per-sensor records (dicts matching iot_sensor_reading) for one reading."""
    return reading_records(reading, thresholds, battery, derived).as_dicts()
