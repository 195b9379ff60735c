"""The fast reading encoder writes exactly the bytes fastavro (AvroSerializer) writes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema
from iot_pipeline.schemas.reading_encoder import (
    PER_RECORD_FIELDS,
    SHARED_FIELDS,
    ReadingEncoder,
    _varint,
    split_record,
    supports,
    timestamp_millis,
    verified_encoder,
    verified_reading_encoder,
)

SCHEMA_STR = load_schema(READING_SCHEMA_FILE)
SCHEMA = fastavro.parse_schema(json.loads(SCHEMA_STR))
HEADER = b"\x00\x00\x00\x01\x2a"


def _reference(record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    buffer.write(HEADER)
    fastavro.schemaless_writer(buffer, SCHEMA, record)
    return buffer.getvalue()


text = st.text(max_size=40)
optional = st.one_of
moments = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
finite = st.floats(allow_nan=False)
records = st.fixed_dictionaries(
    {
        "device_id": text,
        "device_type": text,
        "timestamp": moments,
        "value": finite,
        "unit": text,
        "location": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "latitude": finite,
                    "longitude": finite,
                    "building": optional(st.none(), text),
                    "floor": optional(st.none(), st.integers(-(2**31), 2**31 - 1)),
                    "zone": optional(st.none(), text),
                }
            ),
        ),
        "battery_level": optional(st.none(), finite),
        "signal_strength": optional(st.none(), finite),
        "firmware_version": optional(st.none(), text),
        "is_anomaly": st.booleans(),
        "metadata": st.dictionaries(text, text, max_size=5),
        "tag_mac": optional(st.none(), text),
        "gateway_id": optional(st.none(), text),
        "rssi": optional(st.none(), st.integers(-(2**31), 2**31 - 1)),
        "measurement_sequence": optional(st.none(), st.integers(-(2**31), 2**31 - 1)),
    }
)


@given(st.lists(records, min_size=1, max_size=4))
def test_bytes_equal_fastavro(batch: list[dict[str, Any]]) -> None:
    encoder = ReadingEncoder(HEADER)
    for record in batch:
        assert encoder.encode(record) == _reference(record)


@given(records, st.lists(st.tuples(text, finite, st.booleans()), min_size=1, max_size=9))
def test_records_sharing_a_reading_reuse_the_shared_part_correctly(
    base: dict[str, Any], sensors: list[tuple[str, float, bool]]
) -> None:
    encoder = ReadingEncoder(HEADER)
    for name, value, anomaly in sensors:
        record = {
            **base,
            "device_id": name,
            "value": value,
            "is_anomaly": anomaly,
            "metadata": dict(base["metadata"]),
        }
        assert encoder.encode(record) == _reference(record)


@given(records, st.lists(st.tuples(text, text, finite, text, st.booleans()), max_size=9))
def test_a_group_encodes_to_the_bytes_of_each_of_its_records(
    base: dict[str, Any], items: list[tuple[str, str, float, str, bool]]
) -> None:
    shared, _ = split_record(base)
    encoded = ReadingEncoder(HEADER).encode_group(shared, items)
    expected = [
        _reference({**shared, **dict(zip(PER_RECORD_FIELDS, item, strict=True))}) for item in items
    ]
    assert encoded == expected


def test_shared_and_per_record_fields_partition_the_schema() -> None:
    names = [field["name"] for field in json.loads(SCHEMA_STR)["fields"]]
    assert sorted(SHARED_FIELDS + PER_RECORD_FIELDS) == sorted(names)
    assert not set(SHARED_FIELDS) & set(PER_RECORD_FIELDS)


@given(moments)
def test_timestamp_millis_truncates_to_the_millisecond(moment: datetime) -> None:
    millis = timestamp_millis(moment)
    back = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    assert timedelta(0) <= moment - back < timedelta(milliseconds=1)


def test_supports_the_packaged_schema_only() -> None:
    assert supports(SCHEMA_STR)
    schema = json.loads(SCHEMA_STR)
    schema["fields"].append({"name": "extra", "type": ["null", "string"], "default": None})
    assert not supports(json.dumps(schema))
    schema = json.loads(SCHEMA_STR)
    schema["fields"][3]["type"] = "float"
    assert not supports(json.dumps(schema))


def test_naive_timestamps_and_bad_headers_are_refused() -> None:
    with pytest.raises(ValueError):
        timestamp_millis(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        ReadingEncoder(b"\x01\x00\x00\x00\x01")


def test_supports_refuses_a_changed_location_record() -> None:
    schema = json.loads(SCHEMA_STR)
    location = next(f for f in schema["fields"] if f["name"] == "location")
    location["type"][1]["fields"].append({"name": "room", "type": ["null", "string"]})
    assert not supports(json.dumps(schema))


def test_verified_encoder_is_used_only_when_it_matches_the_reference() -> None:
    sample = {
        "device_id": "d",
        "device_type": "temperature",
        "timestamp": datetime(2026, 1, 1, tzinfo=UTC),
        "value": 1.5,
        "unit": "°C",
        "location": {"latitude": 1.0, "longitude": 2.0, "building": "HQ", "floor": 1, "zone": None},
        "battery_level": None,
        "signal_strength": -60.0,
        "firmware_version": None,
        "is_anomaly": False,
        "metadata": {"a": "b"},
        "tag_mac": None,
        "gateway_id": None,
        "rssi": None,
        "measurement_sequence": None,
    }
    fast = verified_encoder(_reference, SCHEMA_STR, [sample])
    assert fast is not _reference
    assert fast(sample) == _reference(sample)

    def wrong(record: dict[str, Any]) -> bytes:
        return _reference(record) + b"x"

    assert verified_encoder(wrong, SCHEMA_STR, [sample]) is wrong
    assert verified_reading_encoder(wrong, SCHEMA_STR, [sample]) is None
    encoder = verified_reading_encoder(_reference, SCHEMA_STR, [sample])
    assert encoder is not None
    assert encoder.encode_group(*_group(sample)) == [_reference(sample)]
    schema = json.loads(SCHEMA_STR)
    schema["fields"].append({"name": "extra", "type": ["null", "string"], "default": None})
    assert verified_encoder(_reference, json.dumps(schema), [sample]) is _reference


def _group(record: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    shared, item = split_record(record)
    return shared, [item]


# One encoder for every example: its caches (strings, record heads) must never mix up records.
_SHARED_ENCODER = ReadingEncoder(HEADER)
small_text = st.sampled_from(["", "a", "b", "ä", "a_b", "°C", "x" * 33, "\u2603" * 20])


@given(records, st.lists(st.tuples(small_text, small_text, finite, small_text, st.booleans())))
def test_a_reused_encoder_keeps_each_group_apart(
    base: dict[str, Any], items: list[tuple[str, str, float, str, bool]]
) -> None:
    shared, _ = split_record(base)
    expected = [
        _reference({**shared, **dict(zip(PER_RECORD_FIELDS, item, strict=True))}) for item in items
    ]
    assert _SHARED_ENCODER.encode_group(shared, items) == expected


_EDGES = [0, 1, -1, 63, -64, 64, -65, 2**13 - 1, 2**13, 2**20 - 1, 2**20, -(2**20) - 1]
_EDGES += [2**31 - 1, -(2**31), 2**41, 2**62, 2**63 - 1, -(2**63), 1_767_225_600_123]


@pytest.mark.parametrize("number", _EDGES)
def test_longs_at_every_varint_length_equal_fastavro(number: int) -> None:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, "long", number)
    assert _varint(number) == buffer.getvalue()
