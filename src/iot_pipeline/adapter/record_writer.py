"""A reading's Kafka records (key, Avro value) straight from the TagReading, with everything
that stays the same for a tag heard through a gateway encoded once (pure).

RecordMaker + ReadingEncoder.encode_group build a dict of shared fields, a metadata dict and a
tuple per sensor for every reading and then encode them; most of that is the same for every
reading of a tag (device ids and types, units, the metadata but the raw data, tag MAC, gateway
id). RecordWriter keeps those encoded per (tag, gateway, source, ...) in a _TagPlan, so a
reading costs its timestamp, battery, RSSI, sequence, raw data and values. It reuses
RecordMaker's sensor plans, anomaly bounds, battery model and reading_metadata(), and only
writes readings whose metadata is constant but the raw data (Formats 3 and 5); for Ruuvi Air
readings it returns None and the caller uses the general path. record_writer() builds one only
when it writes exactly the general path's bytes for sample readings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Final, NamedTuple

from loguru import logger

from iot_pipeline.adapter.encoding import EncodeRecords, GroupEncode, sample_reading
from iot_pipeline.adapter.transform import RecordMaker, device_id, reading_metadata
from iot_pipeline.adapter.validation import SourceFormat, TagReading
from iot_pipeline.ruuvi import RuuviReading
from iot_pipeline.ruuvi.derived import derived_values
from iot_pipeline.schemas.reading_encoder import (
    ReadingEncoder,
    avro_long,
    avro_optional_double,
    avro_optional_int,
    avro_string,
    pack_double,
    timestamp_millis,
)

Keyed = list[tuple[bytes, bytes]]
# A reading's records as (key, value), or None: not one this writer takes (general path).
WriteRecords = Callable[[TagReading], Keyed | None]

_AIR_FORMATS: Final = frozenset({6, 0xE1})  # their metadata holds per-reading values
# (tag, gateway, ...) combinations kept encoded: ~1-2 kB each, so at most ~20 MB.
_MAX_PLANS: Final = 10_000
# (field or sensor name, key, header + device_id + device_type, unit, low, high)
_Sensor = tuple[str, bytes, bytes, bytes, float, float]
_PlanKey = tuple[object, ...]


class _TagPlan(NamedTuple):
    measured: tuple[_Sensor, ...]
    derived: dict[str, _Sensor]
    # The metadata map's count and constant entries, then the key "raw" when there is raw data.
    metadata: bytes
    # What follows the metadata entries up to rssi: the map's end, tag_mac and gateway_id.
    identity: bytes


def _optional_string(text: str | None) -> bytes:
    return b"\x00" if text is None else b"\x02" + avro_string(text)


class RecordWriter:
    """TagReading -> [(device_id key, Confluent-framed Avro value)] for Formats 3 and 5."""

    def __init__(self, maker: RecordMaker, encoder: ReadingEncoder) -> None:
        self._maker = maker
        self._header = encoder.header
        self._plans: dict[_PlanKey, _TagPlan | None] = {}

    def __call__(self, reading: TagReading) -> Keyed | None:
        values = reading.values
        which = (
            reading.tag_mac,
            reading.gateway_id,
            reading.gateway_mac,
            reading.source,
            reading.timestamp_source,
            values.data_format,
            reading.raw is None,
        )
        plan = self._plans.get(which)
        if plan is None:
            if which in self._plans:  # planned before: not a reading this writer takes
                return None
            plan = self._plan(which, reading)
            if plan is None:
                return None
        volts = getattr(values, "battery", None)
        rssi = reading.rssi
        middle = b"".join(
            (
                b"\x00",  # location: null
                avro_optional_double(None if volts is None else self._maker.battery_percent(volts)),
                avro_optional_double(None if rssi is None else float(rssi)),
                b"\x00",  # firmware_version: null
            )
        )
        tail = b"".join(
            (
                plan.metadata,
                b"" if reading.raw is None else avro_string(reading.raw),
                plan.identity,
                avro_optional_int(rssi),
                avro_optional_int(values.measurement_sequence),
            )
        )
        normal, anomaly = middle + b"\x00" + tail, middle + b"\x01" + tail
        timestamp = avro_long(timestamp_millis(reading.timestamp))
        pack = pack_double
        return [
            (
                key,
                b"".join(
                    (
                        head,
                        timestamp,
                        pack(value),
                        unit,
                        anomaly if value < low or value > high else normal,
                    )
                ),
            )
            for (_, key, head, unit, low, high), value in self._values(plan, reading)
        ]

    def _values(self, plan: _TagPlan, reading: TagReading) -> list[tuple[_Sensor, float]]:
        """Each available value with its sensor, in RecordMaker's record order."""
        values = reading.values
        out = [
            (sensor, float(raw))
            for sensor in plan.measured
            if (raw := getattr(values, sensor[0])) is not None
        ]
        if self._maker.derived:
            derived = plan.derived
            out += [(derived[name], value) for name, value in derived_values(values).items()]
        return out

    def _plan(self, which: _PlanKey, reading: TagReading) -> _TagPlan | None:
        """Encode what the readings of ``which`` share (None: not a reading this writer takes);
        a None is kept too, so those readings cost one look-up."""
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        plan = None
        if reading.values.data_format not in _AIR_FORMATS:
            plan = self._new_plan(reading)
        self._plans[which] = plan
        return plan

    def _new_plan(self, reading: TagReading) -> _TagPlan | None:
        entries = list(reading_metadata(reading).items())
        if reading.raw is not None:
            if entries[-1] != ("raw", reading.raw):
                return None  # the raw data is not the last entry: not the layout planned for
            entries.pop()
        metadata = b"".join(avro_string(k) + avro_string(v) for k, v in entries)
        count = len(entries) + (reading.raw is not None)
        metadata = (avro_long(count) if count else b"") + metadata
        if reading.raw is not None:
            metadata += avro_string("raw")
        header, tag_mac = self._header, reading.tag_mac

        def sensor(
            first: str, name: str, device_type: str, unit: str, lo: float, hi: float
        ) -> _Sensor:
            ident = device_id(tag_mac, name)
            head = header + avro_string(ident) + avro_string(device_type)
            return (first, ident.encode(), head, avro_string(unit), lo, hi)

        data_format = reading.values.data_format
        measured = tuple(sensor(*spec) for spec in self._maker.plan(data_format))
        derived = {
            name: sensor(name, name, *spec)
            for name, spec in self._maker.derived_plan().items()
            if self._maker.derived
        }
        identity = (
            b"\x00" + _optional_string(reading.tag_mac) + _optional_string(reading.gateway_id)
        )
        return _TagPlan(measured, derived, metadata, identity)


def general_records(maker: RecordMaker, encode: EncodeRecords, reading: TagReading) -> Keyed:
    """The reading's records the general way: RecordMaker's records, encoded by ``encode``."""
    records = maker(reading)
    values = encode(records)
    return [
        (sensor[0].encode(), value)  # the key: device_id
        for sensor, value in zip(records.sensors, values, strict=True)
    ]


def sample_readings() -> list[TagReading]:
    """Readings to check a RecordWriter on: the fixed sample, through an official gateway, with
    each optional field missing, and in Format 3."""
    base = sample_reading()
    values = base.values
    assert isinstance(values, RuuviReading)  # the sample is Format 5
    unknown = replace(values, battery=None, measurement_sequence=None, temperature=None)
    format3 = replace(values, data_format=3, tx_power=None, measurement_sequence=None, mac=None)
    return [
        base,
        replace(base, source=SourceFormat.RUUVI_GATEWAY, gateway_id="24:0A:C4:12:34:56"),
        replace(base, gateway_mac=None, raw=None, rssi=None),
        replace(base, values=unknown),
        replace(base, values=format3, raw=None),
    ]


def record_writer(
    maker: RecordMaker, encode: EncodeRecords, samples: Iterable[TagReading] | None = None
) -> WriteRecords | None:
    """A RecordWriter when ``encode`` is the fast group encoder and the writer's records equal
    general_records() for every sample (sample_readings() by default); otherwise None."""
    if not isinstance(encode, GroupEncode):
        return None
    writer = RecordWriter(maker, encode.reading_encoder)
    for reading in sample_readings() if samples is None else samples:
        written = writer(reading)
        if written is not None and written != general_records(maker, encode, reading):
            logger.warning("record writer differs from the general path; not using it")
            return None
    return writer
