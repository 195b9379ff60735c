"""RecordWriter writes byte for byte the records (keys and Avro values) of the general path:
RecordMaker's records serialized one by one with fastavro, as AvroSerializer does, on generated
readings (every optional field missing or set, unicode, edge values, derived values on and off)
with one writer reused across readings, so its per-tag plans are exercised too."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iot_pipeline.adapter.encoding import records_encoder, serialize_each
from iot_pipeline.adapter.record_writer import (
    RecordWriter,
    general_records,
    record_writer,
    sample_readings,
)
from iot_pipeline.adapter.transform import DEFAULT_THRESHOLDS, BatteryModel, RecordMaker, Threshold
from iot_pipeline.adapter.validation import SourceFormat, TagReading, TimestampSource, parse_message
from iot_pipeline.ruuvi import RuuviReading
from tests.unit.adapter.test_transform_formats import CONTRACT, SCHEMA, SCHEMA_STR


def _serialize(record: Mapping[str, Any]) -> bytes:
    buffer = io.BytesIO()
    buffer.write(b"\x00\x00\x00\x00\x07")
    fastavro.schemaless_writer(buffer, SCHEMA, dict(record))
    return buffer.getvalue()


REFERENCE = serialize_each(_serialize)  # today's serializer, record by record
FAST = records_encoder(_serialize, SCHEMA_STR)
MAKERS = {
    derived: RecordMaker(
        {**DEFAULT_THRESHOLDS, "acceleration_z": Threshold(low=0.5), "dew_point": Threshold(1, 2)},
        BatteryModel(2.1, 3.1),
        derived,
    )
    for derived in (False, True)
}
WRITERS = {derived: RecordWriter(maker, FAST.reading_encoder) for derived, maker in MAKERS.items()}

optional = st.one_of
small = st.integers(-(2**15), 2**15)
unicode_text = st.text(max_size=70)
macs = st.sampled_from(["CB:B8:33:4C:88:4F", "AA:BB:CC:DD:EE:01", "aa:bb:cc:dd:ee:02"])
measured = st.builds(
    RuuviReading,
    data_format=st.sampled_from([3, 5]),
    # On the thresholds' bounds too: a bound itself is no anomaly.
    temperature=optional(st.none(), st.sampled_from([-50.0, 50.0]), st.floats(-163.835, 163.835)),
    humidity=optional(st.none(), st.sampled_from([15.0, 100.0]), st.floats(0, 163.8350)),
    pressure=optional(st.none(), st.sampled_from([87000, 108500]), st.integers(50000, 115534)),
    acceleration_x=optional(st.none(), st.floats(-32.767, 32.767)),
    acceleration_y=optional(st.none(), st.floats(-32.767, 32.767)),
    acceleration_z=optional(st.none(), st.just(0.5), st.floats(-32.767, 32.767)),
    tx_power=optional(st.none(), st.integers(-40, 20)),
    battery=optional(st.none(), st.just(2.0), st.floats(1.6, 3.646)),
    movement_counter=optional(st.none(), st.integers(0, 254)),
    measurement_sequence=optional(st.none(), st.integers(0, 2**24)),
    mac=optional(st.none(), macs),
)
readings = st.builds(
    TagReading,
    source=st.sampled_from(list(SourceFormat)),
    tag_mac=macs,
    gateway_id=optional(st.none(), st.sampled_from(["gw-1", "24:0A:C4:12:34:56"]), unicode_text),
    gateway_mac=optional(st.none(), st.sampled_from(["24:0A:C4:12:34:56"]), unicode_text),
    rssi=optional(st.none(), st.integers(-127, 20), small),
    timestamp=st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    timestamp_source=st.sampled_from(list(TimestampSource)),
    values=measured,
    raw=optional(st.none(), st.just("0201061BFF990405"), unicode_text),
    payload=st.none(),
)


@settings(max_examples=600)
@given(st.lists(readings, min_size=1, max_size=6), st.booleans())
def test_records_equal_the_general_path(batch: list[TagReading], derived: bool) -> None:
    for reading in batch:
        expected = _outcome(partial(general_records, MAKERS[derived], REFERENCE, reading))
        assert _outcome(partial(WRITERS[derived], reading)) == expected


def _outcome(write: Callable[[], Any]) -> Any:
    """The records, or the error (e.g. derived values of a humidity of ~0 are undefined: both
    paths raise alike, and the adapter dead-letters the message as internal_error)."""
    try:
        return write()
    except ValueError as exc:
        return repr(exc)


def test_ruuvi_air_readings_are_left_to_the_general_path() -> None:
    payload = json.dumps(CONTRACT["payloads_by_format"]["E1"]).encode()
    reading = parse_message(
        CONTRACT["topic"], payload, datetime(2026, 11, 23, 13, 37, 1, tzinfo=UTC)
    )
    assert isinstance(reading, TagReading)
    writer = WRITERS[True]
    assert writer(reading) is None
    assert writer(reading) is None  # the look-up of a planned-out reading says so again
    assert general_records(MAKERS[True], FAST, reading)


def test_the_samples_cover_gateway_format_3_and_missing_fields() -> None:
    samples = sample_readings()
    assert {r.values.data_format for r in samples} == {3, 5}
    assert any(r.raw is None and r.rssi is None and r.gateway_mac is None for r in samples)
    for reading in samples:
        assert WRITERS[False](reading) == general_records(MAKERS[False], REFERENCE, reading)


def test_a_writer_is_built_only_for_the_fast_encoder_and_when_it_agrees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    maker = MAKERS[False]
    assert isinstance(record_writer(maker, FAST), RecordWriter)
    assert record_writer(maker, REFERENCE) is None  # not the fast encoder: nothing to build on
    monkeypatch.setattr(RecordWriter, "__call__", lambda _self, _reading: [(b"k", b"v")])
    assert record_writer(maker, FAST) is None
