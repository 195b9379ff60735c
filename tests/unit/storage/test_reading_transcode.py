"""The transcoder agrees with the general path (fastavro, then ``encode_reading``) on every body:
the same bytes and time, or None - and None only where the general path decides something else
(a rejection, a decoding error) or for the uncommon encodings it leaves to fastavro."""

from __future__ import annotations

import io
import json
import math
import random
import struct
from typing import Any

import fastavro
import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form

from iot_pipeline.kafka.consumer import millis_as_long
from iot_pipeline.schemas.records import InvalidReading
from iot_pipeline.schemas.registry import READING_SCHEMA_FILE, load_schema
from iot_pipeline.storage.reading_copy import MAX_MILLIS, MIN_MILLIS, encode_reading
from iot_pipeline.storage.reading_transcode import (
    WRITTEN_FOR,
    is_transcodable,
    transcode_reading,
)
from tests.unit.storage.test_reading_copy import BASE, random_record

SCHEMA: dict[str, Any] = json.loads(load_schema(READING_SCHEMA_FILE))
PARSED = fastavro.parse_schema(millis_as_long(SCHEMA))
# The bodies are written with every int a long: the same bytes (both are zigzag varints), but
# fastavro's writer then writes ints out of int32 range too, as another producer could.
WIDE = fastavro.parse_schema(
    json.loads(json.dumps(millis_as_long(SCHEMA)).replace('"int"', '"long"'))
)

FULL: dict[str, Any] = {
    **BASE,
    "location": {
        "latitude": 60.1,
        "longitude": 24.9,
        "building": "HQ",
        "floor": 3,
        "zone": "north",
    },
    "battery_level": 87.5,
    "signal_strength": -61.0,
    "firmware_version": "1.4.2",
    "is_anomaly": True,
    "metadata": {"source": "simulator", "sequence": "12"},
    "tag_mac": "AA:BB:CC:DD:EE:FF",
    "gateway_id": "gw-1",
    "rssi": -70,
    "measurement_sequence": 65535,
}


def body_of(record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, WIDE, record)
    return out.getvalue()


def general(body: bytes) -> tuple[bytes, float] | str:
    """What the general path makes of a body: (bytes, time), or why it gives none."""
    try:
        record = fastavro.schemaless_reader(io.BytesIO(body), PARSED, None)
    except Exception as exc:
        return f"does not decode: {type(exc).__name__}"
    try:
        encoded = encode_reading(record)
    except InvalidReading as exc:
        return f"invalid: {exc.reason}"
    return encoded.data, encoded.at


def assert_agrees(body: bytes) -> bool:
    """The transcoder gives the general path's bytes or leaves the body to it; True if it took
    the body."""
    got = transcode_reading(body)
    if got is not None:
        assert got == general(body), body
    return got is not None


def assert_transcoded(record: dict[str, Any]) -> None:
    body = body_of(record)
    assert transcode_reading(body) == general(body), record


def assert_left_to_general(body: bytes) -> None:
    assert transcode_reading(body) is None, body


def test_generated_records_transcode_to_the_general_bytes() -> None:
    rng = random.Random(19)
    for i in range(5000):
        assert_transcoded(random_record(rng, i))


def test_the_body_may_start_inside_a_confluent_frame() -> None:
    body = body_of(FULL)
    assert transcode_reading(b"\x00\x00\x00\x00\x07" + body, 5) == general(body)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"location": {"latitude": 0.0, "longitude": -0.0}},  # optional location fields null
        {"location": {**FULL["location"], "floor": -(2**31)}},
        {"rssi": 2**31 - 1, "measurement_sequence": -(2**31)},
        {"timestamp": MIN_MILLIS},
        {"timestamp": MAX_MILLIS},
        {"timestamp": 0},
        {"timestamp": -1},
        {"value": math.nan, "battery_level": math.inf, "signal_strength": -math.inf},
        {"value": 5e-324, "battery_level": -1.7976931348623157e308},
        {"is_anomaly": False},
        {"metadata": {}},
        {"metadata": {"ünï": "cødé 😀", "ctrl": "\x01\x1f\x7f", "esc": '\t\n\r\\"/\u2028'}},
        {"metadata": {"a": "", "": "b"}},
        {"metadata": {f"key{i}": str(i) for i in range(200)}},  # a count of several bytes
        {"device_id": "d" * 64, "unit": "u" * 10_000},  # lengths of several bytes
        {"device_id": "ünï", "device_type": "😀", "unit": "°C", "gateway_id": "€"},
        {"device_id": "\x7f", "unit": "", "firmware_version": ""},
    ],
)
def test_edge_values_transcode_to_the_general_bytes(changes: dict[str, Any]) -> None:
    assert_transcoded({**FULL, **changes})


def test_nan_payloads_and_signs_are_kept() -> None:
    (odd_nan,) = struct.unpack("<d", struct.pack("<Q", 0xFFF8_0000_DEAD_BEEF))
    body = body_of({**FULL, "value": odd_nan})
    data, _ = transcode_reading(body) or (b"", 0.0)
    assert struct.pack(">Q", 0xFFF8_0000_DEAD_BEEF) in data
    assert_transcoded({**FULL, "value": odd_nan})


@pytest.mark.parametrize(
    "changes",
    [
        {"device_id": ""},
        {"device_id": " \t"},
        {"device_type": "\x1f"},  # blank to str.strip, not to bytes.strip
        {"device_id": "a\x00b"},
        {"unit": "\x00"},
        {"firmware_version": "1\x00"},
        {"tag_mac": "\x00"},
        {"location": {**FULL["location"], "zone": "a\x00"}},
        {"metadata": {"a": "\x00"}},
        {"metadata": {"\x00": "a"}},
        {"timestamp": MAX_MILLIS + 1},
        {"timestamp": MIN_MILLIS - 1},
        {"timestamp": 2**62},
        {"rssi": 2**31},
        {"measurement_sequence": -(2**31) - 1},
        {"location": {**FULL["location"], "floor": 2**40}},
    ],
)
def test_invalid_readings_are_left_to_the_general_path(changes: dict[str, Any]) -> None:
    body = body_of({**FULL, **changes})
    assert isinstance(general(body), str)  # the general path rejects it (its reason)
    assert_left_to_general(body)


def test_every_truncated_body_is_left_to_the_general_path() -> None:
    for record in (FULL, BASE, {**FULL, "unit": "ü" * 70}):
        body = body_of(record)
        for end in range(len(body)):
            assert_left_to_general(body[:end])
            assert general(body[:end]) != general(body)


def test_bytes_left_over_are_left_to_the_general_path() -> None:
    assert_left_to_general(body_of(FULL) + b"\x00")


def _string(data: bytes) -> bytes:
    return bytes([len(data) * 2]) + data


def _minimal(
    head: bytes = b"", *, after_unit: bytes = b"\x00\x00\x00\x00\x00", metadata: bytes = b"\x00"
) -> bytes:
    """A hand-made body: device_id, device_type, timestamp 1 ms, value 1.0, unit, then
    ``after_unit`` (location, battery, signal, firmware, is_anomaly) and ``metadata``, then the
    four null unions."""
    start = head or _string(b"d") + _string(b"t")
    return (
        start
        + b"\x02"
        + struct.pack("<d", 1.0)
        + _string(b"u")
        + after_unit
        + metadata
        + b"\x00" * 4
    )


def test_hand_made_bodies_agree_with_fastavro() -> None:
    assert assert_agrees(_minimal())
    assert _minimal() == body_of({**BASE, "timestamp": 1, "value": 1.0, "unit": "u"})


@pytest.mark.parametrize(
    "body",
    [
        _minimal(after_unit=b"\x04\x00\x00\x00\x00"),  # union branch 2 of a 2-branch union
        _minimal(after_unit=b"\x01\x00\x00\x00\x00"),  # union branch -1
        _minimal(after_unit=b"\x00\x00\x00\x00\x02"),  # boolean byte 2
        _minimal(_string(b"\xff") + _string(b"t")),  # not UTF-8
        _minimal(_string(b"\xed\xa0\x80") + _string(b"t")),  # a UTF-8 encoded surrogate
        _minimal(b"\x01d" + _string(b"t")),  # a negative length
        _minimal(metadata=b"\x03\x08" + _string(b"k") + _string(b"v") + b"\x00"),  # sized block
        _minimal(_string(b"d") + _string(b"t")[:1] + b"\x80" * 10 + b"\x00"),  # long varint
    ],
)
def test_uncommon_encodings_are_left_to_fastavro(body: bytes) -> None:
    assert_left_to_general(body)


def test_a_repeated_metadata_key_keeps_fastavros_last_value() -> None:
    pairs = _string(b"k") + _string(b"1") + _string(b"j") + _string(b"2") + _string(b"k")
    body = _minimal(metadata=b"\x06" + pairs + _string(b"3") + b"\x00")
    assert assert_agrees(body)
    data, _ = transcode_reading(body) or (b"", 0.0)
    assert b'{"k":"3","j":"2"}' in data


def test_several_metadata_blocks_and_non_canonical_varints_agree() -> None:
    blocks = b"\x02" + _string(b"a") + _string(b"1") + b"\x02" + _string(b"b") + _string(b"2")
    assert assert_agrees(_minimal(metadata=blocks + b"\x00"))
    padded_length = b"\x82\x00d"  # length 1 in two bytes
    assert assert_agrees(_minimal(padded_length + _string(b"t")))
    padded_end = b"\x80\x00"  # a zero count in two bytes ends the map (fuzzing found this)
    assert assert_agrees(_minimal(metadata=padded_end))
    assert assert_agrees(_minimal(metadata=b"\x02" + _string(b"a") + _string(b"1") + padded_end))


def test_mutated_and_random_bodies_never_disagree() -> None:
    rng = random.Random(7)
    taken = 0
    originals = [body_of(random_record(rng, i)) for i in range(200)] + [body_of(FULL)]
    for _ in range(30_000):
        body = bytearray(rng.choice(originals))
        at, kind = rng.randrange(len(body)), rng.random()
        if kind < 0.6:  # bytes changed
            for _ in range(rng.randint(1, 3)):
                body[rng.randrange(len(body))] = rng.randrange(256)
        elif kind < 0.8:  # bytes dropped
            del body[at : at + rng.randint(1, 3)]
        else:  # bytes inserted
            body[at:at] = rng.randbytes(rng.randint(1, 3))
        taken += assert_agrees(bytes(body))
    for _ in range(5000):
        assert_agrees(rng.randbytes(rng.randint(0, 120)))
    assert taken > 1000  # the mutations were not all left to the general path


def test_the_packaged_schema_is_the_one_the_transcoder_reads() -> None:
    """Fails when iot_sensor_reading.avsc changes: check the transcoder against the new schema
    (its layout, these tests), then update WRITTEN_FOR."""
    assert fingerprint(to_parsing_canonical_form(SCHEMA), "SHA-256") == WRITTEN_FOR
    assert is_transcodable(SCHEMA)
    assert is_transcodable(PARSED)
    assert is_transcodable(millis_as_long(SCHEMA))
    undocumented = {**SCHEMA, "doc": "other words"}
    assert is_transcodable(undocumented)


# Same canonical form (logical types are not part of it), other meaning of the timestamp's bytes.
MICROS: dict[str, Any] = json.loads(
    json.dumps(SCHEMA).replace('"timestamp-millis"', '"timestamp-micros"')
)


def test_another_writer_schema_is_not_transcodable() -> None:
    added = {**SCHEMA, "fields": [*SCHEMA["fields"], {"name": "x", "type": "int", "default": 0}]}
    reordered = {**SCHEMA, "fields": list(reversed(SCHEMA["fields"]))}
    renamed = {**SCHEMA, "name": "OtherReading"}
    for schema in (added, reordered, renamed, MICROS):
        assert not is_transcodable(schema)
