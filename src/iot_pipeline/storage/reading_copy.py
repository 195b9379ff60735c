"""A decoded ``iot_sensor_reading`` record straight to a binary COPY tuple (pure).

The sink's hot path: instead of a row tuple (:func:`~iot_pipeline.storage.rows.reading_to_row`)
then its COPY text, the record's fields are checked and encoded in one pass. Only the common case
is handled here - every field of the type the Avro schema gives, no NUL character, in range; any
other record goes the general way, ``encode_row(reading_to_row(record))``, which rejects what
cannot be stored with the same :class:`InvalidReading` reason as before. So a record either gives
exactly the bytes of the general way (unit tests compare both on generated records) or the same
rejection.

The timestamp is taken as Unix milliseconds, which is what the sink's decoder gives (it reads
``timestamp-millis`` without converting it to a datetime); a datetime goes the general way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from json.encoder import encode_basestring
from typing import Any, Final, NamedTuple

from iot_pipeline.schemas.records import EPOCH, InvalidReading
from iot_pipeline.storage.pgbinary import (
    FALSE,
    FIELD_COUNT,
    JSONB_VERSION,
    NULL,
    TRUE,
    encode_row,
    float8_field,
    int4_field,
    length_prefix,
    millis_timestamp_field,
)
from iot_pipeline.storage.rows import reading_to_row
from iot_pipeline.storage.schema import WRITE_COLUMNS

# The Unix-millisecond range reading_to_row accepts (Python's datetime range, years 1-9999).
MIN_MILLIS: Final = (datetime(1, 1, 1, tzinfo=EPOCH.tzinfo) - EPOCH) // timedelta(milliseconds=1)
MAX_MILLIS: Final = (datetime.max.replace(tzinfo=EPOCH.tzinfo) - EPOCH) // timedelta(milliseconds=1)
INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
FIVE_NULLS: Final = NULL * 5
_TIMESTAMP: Final = WRITE_COLUMNS.index("timestamp")


class EncodedRow(NamedTuple):
    """A reading ready for binary COPY, with what the sink still needs of it: the record (for
    the row-by-row path that isolates rows PostgreSQL refuses) and its time in epoch seconds
    (for the sensor-to-commit latency)."""

    data: bytes
    record: Mapping[str, Any]
    at: float


class Uncommon(Exception):
    """The record is not in the common shape; the general path decides. (Also raised by
    :mod:`iot_pipeline.storage.reading_transcode`, which builds on the field encoders here.)"""


def _text(value: Any) -> bytes:
    if type(value) is not str or "\x00" in value:
        raise Uncommon
    data = value.encode()
    return length_prefix(len(data)) + data


def name_field(value: Any) -> bytes:
    """A required, non-blank text (device_id, device_type)."""
    if type(value) is not str or not value.strip():
        raise Uncommon
    return _text(value)


def _optional_text(value: Any) -> bytes:
    return NULL if value is None else _text(value)


def _float(value: Any) -> bytes:
    if type(value) is float:
        return float8_field(8, value)
    if value is None:
        return NULL
    raise Uncommon


def optional_int32_field(value: Any) -> bytes:
    if type(value) is int and INT32_MIN <= value <= INT32_MAX:
        return int4_field(4, value)
    if value is None:
        return NULL
    raise Uncommon


def _location(location: Any) -> list[bytes]:
    if location is None:
        return [FIVE_NULLS]
    if type(location) is not dict:
        raise Uncommon
    get = location.get
    return [
        _float(get("latitude")),
        _float(get("longitude")),
        _optional_text(get("building")),
        optional_int32_field(get("floor")),
        _optional_text(get("zone")),
    ]


def metadata_field(value: Any) -> bytes:
    if value is None or value == {}:
        return NULL
    if type(value) is not dict:
        raise Uncommon
    members = []
    for key, item in value.items():
        if type(key) is not str or type(item) is not str or "\x00" in key or "\x00" in item:
            raise Uncommon
        members.append(f"{encode_basestring(key)}:{encode_basestring(item)}")
    # What json.dumps(value, ensure_ascii=False, separators=(",", ":")) writes for a map of
    # strings (the same string encoder), without its general machinery.
    data = JSONB_VERSION + ("{" + ",".join(members) + "}").encode()
    return length_prefix(len(data)) + data


def _common(record: dict[str, Any]) -> tuple[bytes, float]:
    get = record.get
    millis = get("timestamp")
    if type(millis) is not int or not MIN_MILLIS <= millis <= MAX_MILLIS:
        raise Uncommon
    is_anomaly = get("is_anomaly", False)
    if is_anomaly is True:
        anomaly = TRUE
    elif is_anomaly is False:
        anomaly = FALSE
    else:
        raise Uncommon
    parts = [
        FIELD_COUNT,
        name_field(get("device_id")),
        name_field(get("device_type")),
        millis_timestamp_field(millis),
        _float(get("value")),
        _text(get("unit")),
        *_location(get("location")),
        _float(get("battery_level")),
        _float(get("signal_strength")),
        _optional_text(get("firmware_version")),
        anomaly,
        metadata_field(get("metadata")),
        NULL,  # tags: readings carry none
        _optional_text(get("tag_mac")),
        _optional_text(get("gateway_id")),
        optional_int32_field(get("rssi")),
        optional_int32_field(get("measurement_sequence")),
    ]
    return b"".join(parts), millis / 1000.0


def _general(record: Mapping[str, Any]) -> tuple[bytes, float]:
    row = reading_to_row(record)
    try:
        data = encode_row(row)
    except UnicodeEncodeError as exc:
        raise InvalidReading(f"text is not valid Unicode: {exc.reason}") from None
    return data, row[_TIMESTAMP].timestamp()


def encode_reading(record: Mapping[str, Any]) -> EncodedRow:
    """The record as a binary COPY tuple; raises :class:`InvalidReading` for a record that cannot
    become a row (the reason :func:`reading_to_row` gives)."""
    try:
        data, at = _common(record) if type(record) is dict else _general(record)
    except (Uncommon, UnicodeEncodeError):
        data, at = _general(record)
    return EncodedRow(data, record, at)
