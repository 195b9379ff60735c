"""Pure conversion of decoded ``iot_sensor_reading`` records into ``sensor_readings`` rows.

A record that cannot become a row raises :class:`InvalidReading` with a reason; the sink sends it
to the dead-letter topic instead of blocking its partition. Nothing here does I/O.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Double, Integer, Text

from iot_pipeline.schemas.records import EPOCH, InvalidReading
from iot_pipeline.storage.schema import WRITE_COLUMNS, sensor_readings

Row = tuple[Any, ...]

_IN_WRITE_ORDER = operator.itemgetter(*WRITE_COLUMNS)  # dict -> tuple in C

_INT32 = (-(2**31), 2**31 - 1)


def _text(record: Mapping[str, Any], field: str, *, required: bool, non_empty: bool = False) -> Any:
    value = record.get(field)
    if type(value) is str and "\x00" not in value and (not non_empty or value.strip()):
        return value  # the common case, checked at once
    if value is None:
        if required:
            raise InvalidReading(f"{field} is missing")
        return None
    if not isinstance(value, str):
        raise InvalidReading(f"{field} is not a string: {type(value).__name__}")
    if non_empty and not value.strip():
        raise InvalidReading(f"{field} is empty")
    if "\x00" in value:
        raise InvalidReading(f"{field} contains a NUL character, which PostgreSQL text cannot hold")
    return value


def _float(value: Any, field: str) -> float | None:
    if type(value) is float:
        return value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidReading(f"{field} is not a number: {type(value).__name__}")
    return float(value)


def _int32(value: Any, field: str) -> int | None:
    if type(value) is int and _INT32[0] <= value <= _INT32[1]:
        return value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidReading(f"{field} is not an integer: {type(value).__name__}")
    if not _INT32[0] <= value <= _INT32[1]:
        raise InvalidReading(f"{field} {value} does not fit a 32-bit integer")
    return value


def reading_timestamp(value: Any) -> datetime:
    """The reading's time as an aware UTC datetime (fastavro gives one; raw millis are accepted)."""
    if type(value) is datetime and value.tzinfo is UTC:
        return value  # what fastavro gives
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidReading("timestamp has no time zone")
        return value.astimezone(UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return EPOCH + timedelta(milliseconds=value)
        except OverflowError:
            raise InvalidReading(f"timestamp {value} ms is out of range") from None
    if value is None:
        raise InvalidReading("timestamp is missing")
    raise InvalidReading(f"timestamp is not a time: {type(value).__name__}")


def _metadata(value: Any) -> dict[str, str] | None:
    if not value and (value is None or type(value) is dict):
        return None
    if not isinstance(value, Mapping):
        raise InvalidReading(f"metadata is not a map: {type(value).__name__}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise InvalidReading("metadata keys and values must be strings")
        if "\x00" in key or "\x00" in item:
            raise InvalidReading("metadata contains a NUL character, which JSONB cannot hold")
        out[key] = item
    return out or None


def reading_to_row(record: Mapping[str, Any]) -> Row:
    """Map one decoded record to a tuple in :data:`WRITE_COLUMNS` order."""
    location = record.get("location")
    if location is not None and not isinstance(location, Mapping):
        raise InvalidReading(f"location is not a record: {type(location).__name__}")
    loc: Mapping[str, Any] = location or {}
    is_anomaly = record.get("is_anomaly", False)
    if not isinstance(is_anomaly, bool):
        raise InvalidReading("is_anomaly is not a boolean")
    values: dict[str, Any] = {
        "device_id": _text(record, "device_id", required=True, non_empty=True),
        "device_type": _text(record, "device_type", required=True, non_empty=True),
        "timestamp": reading_timestamp(record.get("timestamp")),
        "value": _float(record.get("value"), "value"),
        "unit": _text(record, "unit", required=True),
        "latitude": _float(loc.get("latitude"), "location.latitude"),
        "longitude": _float(loc.get("longitude"), "location.longitude"),
        "location_building": _text(loc, "building", required=False),
        "location_floor": _int32(loc.get("floor"), "location.floor"),
        "location_zone": _text(loc, "zone", required=False),
        "battery_level": _float(record.get("battery_level"), "battery_level"),
        "signal_strength": _float(record.get("signal_strength"), "signal_strength"),
        "firmware_version": _text(record, "firmware_version", required=False),
        "is_anomaly": is_anomaly,
        "device_metadata": _metadata(record.get("metadata")),
        "tags": None,
        "tag_mac": _text(record, "tag_mac", required=False),
        "gateway_id": _text(record, "gateway_id", required=False),
        "rssi": _int32(record.get("rssi"), "rssi"),
        "measurement_sequence": _int32(record.get("measurement_sequence"), "measurement_sequence"),
    }
    return _IN_WRITE_ORDER(values)  # type: ignore[no-any-return]


# --- COPY text format -----------------------------------------------------------------------

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _array_literal(items: Sequence[Any]) -> str:
    parts = []
    for item in items:
        if item is None:
            parts.append("NULL")
        else:
            escaped = str(item).replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'"{escaped}"')
    return "{" + ",".join(parts) + "}"


def copy_field(value: Any) -> str:
    """One field in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_COPY_ESCAPES)
    if isinstance(value, list | tuple):
        return _array_literal(value).translate(_COPY_ESCAPES)
    return str(value).translate(_COPY_ESCAPES)


def _copy_float(value: float) -> str:
    return repr(value) if math.isfinite(value) else copy_field(value)


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def _copy_bool(value: bool) -> str:
    return "t" if value else "f"


def _column_formatters() -> tuple[Callable[[Any], str], ...]:
    """One formatter per WRITE_COLUMNS column, chosen once from its SQL type: a row then costs
    one call per non-null field instead of a chain of type checks."""
    by_type: dict[type, Callable[[Any], str]] = {
        Double: _copy_float,
        Integer: str,
        Boolean: _copy_bool,
        Text: _copy_text,
    }
    formatters: list[Callable[[Any], str]] = []
    for name in WRITE_COLUMNS:
        column_type = type(sensor_readings.columns[name].type)
        formatters.append(by_type.get(column_type, copy_field))
    return tuple(formatters)


_FORMATTERS = _column_formatters()


def copy_line(row: Row) -> str:
    """One ``sensor_readings`` row (WRITE_COLUMNS order) in COPY text format."""
    return (
        "\t".join("\\N" if v is None else f(v) for f, v in zip(_FORMATTERS, row, strict=True))
        + "\n"
    )
