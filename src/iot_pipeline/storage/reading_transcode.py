"""The Avro body of an ``iot_sensor_reading`` straight to a binary COPY tuple (pure).

The sink's hot path when a message's writer schema is the one this module was written for
(:func:`is_transcodable`: the SHA-256 of its Parsing Canonical Form is :data:`WRITTEN_FOR`): one
pass over the body instead of fastavro building a dict (~10 us a reading) and
:func:`~iot_pipeline.storage.reading_copy.encode_reading` encoding it (~5 us).

Like ``encode_reading``, only the common case is handled: every union branch index 0 or 1, the
boolean 0 or 1, varints of at most 8 bytes, UTF-8 text without a NUL character, non-blank names,
ints in range, the timestamp in Python's datetime range, metadata blocks without a byte size,
no byte left over. Anything else gives None and the caller takes the general way (fastavro, then
``encode_reading``), which decides: the same bytes, the same :class:`InvalidReading` or the same
decoding error as before. So for every body :func:`transcode_reading` either gives exactly
``encode_reading(fastavro.schemaless_reader(body)).data`` or None (unit tests compare both).

Layout of the body (Avro binary encoding): strings are a zigzag varint length then UTF-8 bytes;
a union is a zigzag varint branch index then the branch; a double is 8 bytes little-endian (the
big-endian ``float8`` COPY field is those bytes reversed, NaN payloads included); a map is blocks
of a zigzag count then count (key, value) pairs, ended by a zero count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastavro.schema import fingerprint, to_parsing_canonical_form

from iot_pipeline.storage.pgbinary import (
    FALSE,
    FIELD_COUNT,
    NULL,
    TRUE,
    length_prefix,
    millis_timestamp_field,
)
from iot_pipeline.storage.reading_copy import (
    FIVE_NULLS,
    MAX_MILLIS,
    MIN_MILLIS,
    Uncommon,
    metadata_field,
    name_field,
    optional_int32_field,
)

# The SHA-256 fingerprint of the Parsing Canonical Form of the writer schema this module reads:
# iot_sensor_reading.avsc as this module was written (a unit test fails when the packaged schema
# changes, so the transcoder is revisited with it). The form drops docs, defaults and logical
# types; docs and defaults do not change the bytes, logical types are checked apart (only
# timestamp-millis, or none, is read here). Any other schema takes the general path.
WRITTEN_FOR: Final = "a30375086d3b57120e033443d65739594ed7ea9852e5e588dad65b6862ea47d8"

_FLOAT8_LENGTH: Final = length_prefix(8)
# One-byte encodings: zigzag(0) = 0 and zigzag(1) = 2 for union branches (null, the value).
_NULL_BRANCH: Final = 0
_VALUE_BRANCH: Final = 2
_LONGEST_VARINT: Final = 8  # 56 bits: every in-range timestamp, int and length fits
# The length prefixes of short texts, looked up rather than packed each time.
_SHORT: Final = 64
_SHORT_PREFIXES: Final = tuple(length_prefix(length) for length in range(_SHORT))

Put = Callable[[bytes], None]
# Reads the value at a position, puts its field(s), returns the position after it.
Read = Callable[[bytes, int, Put], int]


def _logical_types(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["logicalType"]} if "logicalType" in schema else set()
        return found.union(*(_logical_types(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_logical_types(item) for item in schema))
    return set()


def is_transcodable(writer_schema: Any) -> bool:
    """Whether bodies written with ``writer_schema`` (parsed or not) are the ones read here. The
    canonical form ignores logical types, so they are checked apart: a timestamp written as
    ``timestamp-micros`` has the same form but other bytes' meaning."""
    if not _logical_types(writer_schema) <= {"timestamp-millis"}:
        return False
    return bool(fingerprint(to_parsing_canonical_form(writer_schema), "SHA-256") == WRITTEN_FOR)


def _varint(body: bytes, pos: int) -> tuple[int, int]:
    """The zigzag varint at ``pos`` and the position after it."""
    raw = shift = 0
    for at in range(pos, pos + _LONGEST_VARINT):
        byte = body[at]
        raw |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (raw >> 1) ^ -(raw & 1), at + 1
        shift += 7
    raise Uncommon


def _string(body: bytes, pos: int) -> tuple[bytes, int]:
    """The UTF-8 bytes of the string at ``pos`` (checked, not decoded when ASCII), and the
    position after it."""
    head = body[pos]
    if not head & 0x81:  # a non-negative length below 64: one byte
        length, pos = head >> 1, pos + 1
    else:
        length, pos = _varint(body, pos)
        if length < 0:
            raise Uncommon
    end = pos + length
    data = body[pos:end]
    if len(data) != length or 0 in data:  # (an int: memchr, ~10x faster than b"\x00" in)
        raise Uncommon
    if not data.isascii():
        data.decode()  # fastavro decodes strictly: invalid UTF-8 is its decoding error
    return data, end


def _text(body: bytes, pos: int, put: Put) -> int:
    data, pos = _string(body, pos)
    length = len(data)
    put((_SHORT_PREFIXES[length] if length < _SHORT else length_prefix(length)) + data)
    return pos


def _name(body: bytes, pos: int, put: Put) -> int:
    """A required, non-blank text (device_id, device_type): blank is the general path's."""
    data, pos = _string(body, pos)
    put(name_field(data.decode()))
    return pos


def _double(body: bytes, pos: int, put: Put) -> int:
    end = pos + 8
    # Reversed in one slice; a double never starts a body (pos > 0), so pos - 1 is no wrap.
    # A short read shows in the final length check.
    put(_FLOAT8_LENGTH + body[end - 1 : pos - 1 : -1])
    return end


def _int(body: bytes, pos: int, put: Put) -> int:
    value, pos = _varint(body, pos)
    put(optional_int32_field(value))  # out of int32 range: Uncommon
    return pos


def _location(body: bytes, pos: int, put: Put) -> int:
    pos = _double(body, pos, put)  # latitude
    pos = _double(body, pos, put)  # longitude
    pos = _optional(_text, body, pos, put)  # building
    pos = _optional(_int, body, pos, put)  # floor
    return _optional(_text, body, pos, put)  # zone


def _optional(read: Read, body: bytes, pos: int, put: Put, null: bytes = NULL) -> int:
    """A ["null", T] union: ``null`` (the NULL field(s) of an absent value) or ``read``'s."""
    branch = body[pos]
    if branch == _NULL_BRANCH:
        put(null)
        return pos + 1
    if branch == _VALUE_BRANCH:
        return read(body, pos + 1, put)
    raise Uncommon


def _metadata(body: bytes, pos: int, put: Put) -> int:
    if body[pos] == 0:  # an empty map: a zero count at once (the usual case)
        put(NULL)
        return pos + 1
    items: dict[str, str] = {}  # a dict, so a repeated key keeps fastavro's last value
    while True:
        head = body[pos]
        if not head & 0x81:  # a non-negative count below 64: one byte
            count, pos = head >> 1, pos + 1
        else:
            count, pos = _varint(body, pos)
            if count < 0:  # a block with its byte size: fastavro's writer never writes one
                raise Uncommon
        if not count:  # the end (also a zero written in more than one byte)
            break
        for _ in range(count):
            key, pos = _string(body, pos)
            value, pos = _string(body, pos)
            items[key.decode()] = value.decode()
    put(metadata_field(items))  # NULL for no items, as for an empty map
    return pos


def _transcode(body: bytes, pos: int) -> tuple[bytes, float]:
    parts = [FIELD_COUNT]
    put = parts.append
    pos = _name(body, pos, put)  # device_id
    pos = _name(body, pos, put)  # device_type
    millis, pos = _varint(body, pos)
    if not MIN_MILLIS <= millis <= MAX_MILLIS:
        raise Uncommon
    put(millis_timestamp_field(millis))
    pos = _double(body, pos, put)  # value
    pos = _text(body, pos, put)  # unit
    pos = _optional(_location, body, pos, put, FIVE_NULLS)
    pos = _optional(_double, body, pos, put)  # battery_level
    pos = _optional(_double, body, pos, put)  # signal_strength
    pos = _optional(_text, body, pos, put)  # firmware_version
    anomaly = body[pos]
    if anomaly > 1:
        raise Uncommon
    put(TRUE if anomaly else FALSE)
    pos = _metadata(body, pos + 1, put)
    put(NULL)  # tags: readings carry none
    pos = _optional(_text, body, pos, put)  # tag_mac
    pos = _optional(_text, body, pos, put)  # gateway_id
    pos = _optional(_int, body, pos, put)  # rssi
    pos = _optional(_int, body, pos, put)  # measurement_sequence
    if pos != len(body):  # truncated (a double read short) or bytes left over
        raise Uncommon
    return b"".join(parts), millis / 1000.0


def transcode_reading(body: bytes, start: int = 0) -> tuple[bytes, float] | None:
    """The binary COPY tuple of the reading whose Avro body starts at ``start`` (a Confluent
    frame's 5 bytes may precede it) and its time in epoch seconds; None for anything uncommon,
    which the general path decides (see the module docstring)."""
    try:
        return _transcode(body, start)
    except (Uncommon, IndexError, UnicodeDecodeError):
        return None
