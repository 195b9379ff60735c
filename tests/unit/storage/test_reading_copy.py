"""The sink's one-pass encoder agrees with the general path (row tuple, then binary COPY) on every
record: the same bytes, or the same rejection."""

from __future__ import annotations

import math
import random
import struct
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from iot_pipeline.schemas.records import InvalidReading
from iot_pipeline.storage.pgbinary import encode_row
from iot_pipeline.storage.reading_copy import MAX_MILLIS, MIN_MILLIS, encode_reading
from iot_pipeline.storage.rows import reading_to_row

T0_MS = 1_796_300_000_000

_TEXTS = ("", " ", "HQ", "ünïcødé °C", "tab\there", "new\nline", 'q"uote\\', "x" * 300, "😀")
_FLOATS = (0.0, -0.0, 21.5, -67.0, 1e308, -1e-308, math.nan, math.inf, -math.inf, 0.1 + 0.2)
_INTS = (0, -1, 65535, -(2**31), 2**31 - 1)


def _maybe(rng: random.Random, values: tuple[Any, ...]) -> Any:
    return None if rng.random() < 0.3 else rng.choice(values)


def random_record(rng: random.Random, i: int) -> dict[str, Any]:
    """A record as the sink's decoder gives it (timestamp-millis as int), every optional field
    present or null at random, values from the awkward end."""
    location = None
    if rng.random() < 0.7:
        location = {
            "latitude": rng.choice(_FLOATS),
            "longitude": rng.choice(_FLOATS),
            "building": _maybe(rng, _TEXTS),
            "floor": _maybe(rng, _INTS),
            "zone": _maybe(rng, _TEXTS),
        }
    metadata = rng.choice([{}, {"source": "simulator", "sequence": str(i)}, {"k\t": 'v"\\ü'}])
    return {
        "device_id": f"dev-{i % 50}-{rng.choice(_TEXTS[2:])}",
        "device_type": rng.choice(("temperature", "humidity", "ruuvi_air")),
        "timestamp": T0_MS + i * 10,
        "value": rng.choice(_FLOATS),
        "unit": rng.choice(_TEXTS),
        "location": location,
        "battery_level": _maybe(rng, _FLOATS),
        "signal_strength": _maybe(rng, _FLOATS),
        "firmware_version": _maybe(rng, _TEXTS),
        "is_anomaly": rng.random() < 0.1,
        "metadata": metadata,
        "tag_mac": _maybe(rng, ("AA:BB:CC:DD:EE:FF",)),
        "gateway_id": _maybe(rng, _TEXTS),
        "rssi": _maybe(rng, _INTS),
        "measurement_sequence": _maybe(rng, _INTS),
    }


def general(record: Any) -> bytes:
    return encode_row(reading_to_row(record))


def test_generated_records_encode_as_the_general_path() -> None:
    rng = random.Random(19)
    for i in range(5000):
        record = random_record(rng, i)
        encoded = encode_reading(record)
        assert encoded.data == general(record), record
        assert encoded.record is record
        assert encoded.at == record["timestamp"] / 1000


BASE: dict[str, Any] = {
    "device_id": "d",
    "device_type": "t",
    "timestamp": T0_MS,
    "value": 1.5,
    "unit": "°C",
}


@pytest.mark.parametrize(
    "changes",
    [
        {},  # optional fields missing altogether
        {"value": None},
        {"value": 7},  # an int value: the general path makes it a float
        {"timestamp": datetime(2026, 1, 1, 12, tzinfo=UTC)},
        {"timestamp": MIN_MILLIS},
        {"timestamp": MAX_MILLIS},
        {"metadata": None},
        {"metadata": OrderedDict(b="1", a="2")},
        {"location": {}},
        {"location": {"latitude": 1, "longitude": 2.0}},
        {"location": OrderedDict(latitude=1.0, longitude=2.0)},
        {"is_anomaly": True},
        {"rssi": 2**31 - 1, "measurement_sequence": -(2**31)},
    ],
)
def test_uncommon_but_valid_records_give_the_general_bytes(changes: dict[str, Any]) -> None:
    record = {**BASE, **changes}
    encoded = encode_reading(record)
    assert encoded.data == general(record)
    assert encoded.at == reading_to_row(record)[2].timestamp()


def test_a_record_that_is_not_a_dict_goes_the_general_way() -> None:
    record = OrderedDict(BASE)
    assert encode_reading(record).data == general(record)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"device_id": None},
        {"device_id": "  "},
        {"device_type": 5},
        {"unit": None},
        {"device_id": "a\x00b"},
        {"unit": "\x00"},
        {"firmware_version": "1\x00"},
        {"value": "21.5"},
        {"value": True},
        {"timestamp": None},
        {"timestamp": True},
        {"timestamp": "2026-01-01"},
        {"timestamp": datetime(2026, 1, 1)},
        {"timestamp": MAX_MILLIS + 1},
        {"timestamp": MIN_MILLIS - 1},
        {"rssi": 2**31},
        {"rssi": True},
        {"rssi": 1.5},
        {"location": "here"},
        {"location": {"floor": "3"}},
        {"location": {"zone": "a\x00"}},
        {"metadata": ["a"]},
        {"metadata": {"a": 1}},
        {"metadata": {"a": "\x00"}},
        {"metadata": {"\x00": "a"}},
        {"is_anomaly": "yes"},
        {"is_anomaly": 1},
    ],
)
def test_invalid_records_are_rejected_with_the_general_reason(changes: dict[str, Any]) -> None:
    record = {**BASE, **changes}
    with pytest.raises(InvalidReading) as expected:
        reading_to_row(record)
    with pytest.raises(InvalidReading) as got:
        encode_reading(record)
    assert got.value.reason == expected.value.reason


def test_text_that_is_not_unicode_is_rejected_not_crashing() -> None:
    with pytest.raises(InvalidReading, match="not valid Unicode"):
        encode_reading({**BASE, "device_id": "lone \ud800 surrogate"})


def _fields(data: bytes) -> list[bytes | None]:
    """Split a binary COPY tuple into its fields (None for NULL)."""
    (count,) = struct.unpack_from(">h", data)
    fields: list[bytes | None] = []
    at = 2
    for _ in range(count):
        (length,) = struct.unpack_from(">i", data, at)
        at += 4
        if length < 0:
            fields.append(None)
            continue
        fields.append(data[at : at + length])
        at += length
    assert at == len(data)
    return fields


def test_the_fields_are_postgresqls_binary_forms() -> None:
    record = {
        **BASE,
        "timestamp": 946_684_800_001,  # 1 ms after PostgreSQL's epoch
        "location": {"latitude": 60.5, "longitude": None, "building": "B", "floor": -2},
        "metadata": {"k": "v"},
        "is_anomaly": True,
        "rssi": -70,
    }
    fields = _fields(encode_reading(record).data)
    assert len(fields) == 20
    assert fields[0] == b"d" and fields[1] == b"t" and fields[4] == "°C".encode()
    assert fields[2] == struct.pack(">q", 1000)  # microseconds since 2000-01-01
    assert fields[3] == struct.pack(">d", 1.5)
    assert fields[5] == struct.pack(">d", 60.5) and fields[6] is None
    assert fields[7] == b"B" and fields[8] == struct.pack(">i", -2) and fields[9] is None
    assert fields[13] == b"\x01"
    assert fields[14] == b'\x01{"k":"v"}'  # JSONB version 1, then the JSON text
    assert fields[15] is None  # tags
    assert fields[18] == struct.pack(">i", -70) and fields[19] is None


def test_row_tuple_timestamps_before_2000_and_with_microseconds() -> None:
    at = datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    row = list(reading_to_row({**BASE, "timestamp": at}))
    assert _fields(encode_row(row))[2] == struct.pack(">q", -1)
    later = at + timedelta(days=10_000, microseconds=2)
    row[2] = later
    micros = (10_000 * 86_400) * 1_000_000 + 1
    assert _fields(encode_row(row))[2] == struct.pack(">q", micros)


@pytest.mark.parametrize(
    "metadata",
    [
        {"source": "simulator"},
        {"ünï": "cødé 😀", "ctrl": "\x01\x1f\x7f", "esc": '\t\n\r\\"/'},
        {"a": "", "": "b"},
    ],
)
def test_metadata_is_the_json_the_general_path_writes(metadata: dict[str, str]) -> None:
    record = {**BASE, "metadata": metadata}
    assert encode_reading(record).data == general(record)
