"""A fast Avro encoder for iot_sensor_reading records (Confluent wire format, pure).

Serializing through ``AvroSerializer`` costs about as much as everything else the adapter or the
simulator does per reading together (measured ~35-100 us a record on this project's 2-core
machine), and the adapter's nine records of one reading share most of their fields. This encoder
writes the same bytes as fastavro/``AvroSerializer`` for the iot_sensor_reading schema;
:meth:`ReadingEncoder.encode_group` encodes the fields a group of records shares only once.
:func:`verified_encoder` and :func:`verified_reading_encoder` use it only when the
registered schema has exactly the field layout it knows (:func:`supports`) and its output equals
``AvroSerializer``'s on sample records (which also fetches the schema id); otherwise the caller
keeps ``AvroSerializer``. Unit tests compare it with fastavro byte for byte on generated records.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from loguru import logger

from iot_pipeline.schemas.records import EPOCH

_DOUBLE: Final = struct.Struct("<d")

# (field name, Avro type as written in the schema) in schema order: the layout this encoder knows.
LAYOUT: Final[tuple[tuple[str, Any], ...]] = (
    ("device_id", "string"),
    ("device_type", "string"),
    ("timestamp", {"type": "long", "logicalType": "timestamp-millis"}),
    ("value", "double"),
    ("unit", "string"),
    ("location", "Location"),
    ("battery_level", ["null", "double"]),
    ("signal_strength", ["null", "double"]),
    ("firmware_version", ["null", "string"]),
    ("is_anomaly", "boolean"),
    ("metadata", {"type": "map", "values": "string"}),
    ("tag_mac", ["null", "string"]),
    ("gateway_id", ["null", "string"]),
    ("rssi", ["null", "int"]),
    ("measurement_sequence", ["null", "int"]),
)


# encode_group(): the fields each record of a group has of its own, and those the group shares.
PER_RECORD_FIELDS: Final = ("device_id", "device_type", "value", "unit", "is_anomaly")
SHARED_FIELDS: Final = tuple(name for name, _ in LAYOUT if name not in PER_RECORD_FIELDS)

LOCATION_LAYOUT: Final[list[tuple[str, Any]]] = [
    ("latitude", "double"),
    ("longitude", "double"),
    ("building", ["null", "string"]),
    ("floor", ["null", "int"]),
    ("zone", ["null", "string"]),
]


def supports(schema_str: str) -> bool:
    """True when ``schema_str`` has exactly the field layout this encoder writes."""
    schema = json.loads(schema_str)
    fields = schema.get("fields", [])
    if [f["name"] for f in fields] != [name for name, _ in LAYOUT]:
        return False
    for field, (_, expected) in zip(fields, LAYOUT, strict=True):
        actual = field["type"]
        if expected == "Location":
            if not (isinstance(actual, list) and actual[0] == "null" and len(actual) == 2):
                return False
            fields_of = [(f["name"], f["type"]) for f in actual[1].get("fields", [])]
            if fields_of != LOCATION_LAYOUT:
                return False
        elif actual != expected:
            return False
    return True


def _varint(n: int) -> bytes:
    """Zig-zag varint, as Avro encodes int and long."""
    return _uvarint((n << 1) ^ (n >> 63))  # never negative: both operands share n's sign


def _uvarint(zz: int) -> bytes:
    """The varint of a zig-zagged ``zz`` >= 0: branches by size instead of a loop a byte, as
    RSSI (negative), sequence numbers (up to 24 bits) and millisecond timestamps (42 bits, in
    two steps) are written for every reading."""
    if zz < 0x80:
        return _ONE_BYTE[zz]
    if zz < 0x4000:
        return bytes((zz & 0x7F | 0x80, zz >> 7))
    if zz < 0x200000:
        return bytes((zz & 0x7F | 0x80, zz >> 7 & 0x7F | 0x80, zz >> 14))
    return bytes((zz & 0x7F | 0x80, zz >> 7 & 0x7F | 0x80, zz >> 14 & 0x7F | 0x80)) + _uvarint(
        zz >> 21
    )


_ONE_BYTE: Final = tuple(bytes((n,)) for n in range(0x80))
_SMALL: Final = tuple(_varint(n) for n in range(4096))
# Metadata values up to this length are kept encoded (they repeat); longer ones are encoded anew.
_CACHED_VALUE_CHARS: Final = 32
_MAX_CACHED: Final = 100_000  # encodings kept per cache (a few MB at most)


def _long(n: int) -> bytes:
    return _SMALL[n] if 0 <= n < 4096 else _varint(n)


def _string(s: str) -> bytes:
    data = s.encode()
    return _long(len(data)) + data


def _optional_double(value: float | None) -> bytes:
    return b"\x00" if value is None else b"\x02" + _DOUBLE.pack(value)


def _optional_string(value: str | None) -> bytes:
    return b"\x00" if value is None else b"\x02" + _string(value)


def _optional_int(value: int | None) -> bytes:
    return b"\x00" if value is None else b"\x02" + _long(value)


# The encodings a caller assembling records itself (adapter.record_writer) builds on.
avro_long: Final = _long
avro_string: Final = _string
avro_optional_double: Final = _optional_double
avro_optional_int: Final = _optional_int
pack_double: Final = _DOUBLE.pack


def _location(location: Mapping[str, Any] | None) -> bytes:
    """The ["null", Location] union: branch 0, or branch 1 and the record's fields in order."""
    if location is None:
        return b"\x00"
    return b"".join(
        (
            b"\x02",
            _DOUBLE.pack(location["latitude"]),
            _DOUBLE.pack(location["longitude"]),
            _optional_string(location.get("building")),
            _optional_int(location.get("floor")),
            _optional_string(location.get("zone")),
        )
    )


def timestamp_millis(moment: datetime | int) -> int:
    """Milliseconds since the epoch the way fastavro computes them (truncating microseconds)."""
    if isinstance(moment, int):
        return moment
    if moment.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + int(delta.microseconds / 1000)


class ReadingEncoder:
    """Encodes iot_sensor_reading records with the given 5-byte wire header (magic + schema id)."""

    def __init__(self, header: bytes) -> None:
        if len(header) != 5 or header[0] != 0:
            raise ValueError("header must be the Confluent magic byte and a 4-byte schema id")
        self.header = header
        self._strings: dict[str, bytes] = {}
        # (device_id, device_type): the header and both encoded, the constant start of a record.
        self._heads: dict[tuple[str, str], bytes] = {}

    def _encode_shared(self, shared: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
        """The encodings of the SHARED_FIELDS: timestamp, the fields between unit and
        is_anomaly, and those after is_anomaly."""
        timestamp = _long(timestamp_millis(shared["timestamp"]))
        middle = (
            _location(shared["location"])
            + _optional_double(shared["battery_level"])
            + _optional_double(shared["signal_strength"])
            + _optional_string(shared["firmware_version"])
        )
        metadata = shared["metadata"]
        tail = bytearray()
        get, cached = self._strings.get, self._cached
        if metadata:
            tail += _long(len(metadata))
            for k, v in metadata.items():
                tail += get(k) or cached(k)
                # Short values repeat (source, format, gateway MAC); long ones (raw data) do not.
                tail += (get(v) or cached(v)) if len(v) <= _CACHED_VALUE_CHARS else _string(v)
        tail += b"\x00"
        for text in (shared["tag_mac"], shared["gateway_id"]):  # both repeat: kept encoded
            tail += b"\x00" if text is None else b"\x02" + (get(text) or cached(text))
        tail += _optional_int(shared["rssi"])
        tail += _optional_int(shared["measurement_sequence"])
        return timestamp, middle, bytes(tail)

    def _cached(self, text: str) -> bytes:
        """Device ids, types and units repeat: keep their encodings (bounded)."""
        encoded = self._strings.get(text)
        if encoded is None:
            if len(self._strings) >= _MAX_CACHED:
                self._strings.clear()
            encoded = self._strings[text] = _string(text)
        return encoded

    def encode(self, record: Mapping[str, Any]) -> bytes:
        timestamp, middle, tail = self._encode_shared(record)
        cached = self._cached
        return b"".join(
            (
                self.header,
                cached(record["device_id"]),
                cached(record["device_type"]),
                timestamp,
                _DOUBLE.pack(record["value"]),
                cached(record["unit"]),
                middle,
                b"\x01" if record["is_anomaly"] else b"\x00",
                tail,
            )
        )

    def encode_group(
        self, shared: Mapping[str, Any], items: Iterable[Sequence[Any]]
    ) -> list[bytes]:
        """Records that differ only in the PER_RECORD_FIELDS: ``shared`` holds the SHARED_FIELDS
        once, each item is (device_id, device_type, value, unit, is_anomaly). The same bytes as
        encode() of each record, with the shared fields encoded once for the group."""
        timestamp, middle, tail = self._encode_shared(shared)
        # What follows the unit, by is_anomaly: the rest of the record is shared by the group.
        normal, anomaly = middle + b"\x00" + tail, middle + b"\x01" + tail
        head, unit_of = self._heads.get, self._strings.get  # never empty: ``or`` only on a miss
        new_head, cached = self._head, self._cached
        pack = _DOUBLE.pack
        return [
            b"".join(
                (
                    head((device_id, device_type)) or new_head(device_id, device_type),
                    timestamp,
                    pack(value),
                    unit_of(unit) or cached(unit),
                    anomaly if is_anomaly else normal,
                )
            )
            for device_id, device_type, value, unit, is_anomaly in items
        ]

    def _head(self, device_id: str, device_type: str) -> bytes:
        """The header, device_id and device_type of a record, kept (bounded)."""
        if len(self._heads) >= _MAX_CACHED:
            self._heads.clear()
        encoded = self.header + _string(device_id) + _string(device_type)
        self._heads[device_id, device_type] = encoded
        return encoded


def split_record(record: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """A record as encode_group() takes it: (its SHARED_FIELDS, its PER_RECORD_FIELDS)."""
    return (
        {name: record[name] for name in SHARED_FIELDS},
        tuple(record[name] for name in PER_RECORD_FIELDS),
    )


def verified_reading_encoder(
    serialize: Callable[[Mapping[str, Any]], bytes],
    schema_str: str,
    samples: Sequence[Mapping[str, Any]],
) -> ReadingEncoder | None:
    """A ReadingEncoder when the schema has its layout and both encode() and encode_group()
    write exactly what ``serialize`` (the registry's AvroSerializer) writes for every sample;
    otherwise None."""
    if not supports(schema_str):
        logger.info("schema layout differs from the fast encoder's; using AvroSerializer")
        return None
    reference = [serialize(record) for record in samples]
    encoder = ReadingEncoder(reference[0][:5])
    grouped = [encoder.encode_group(*_as_group(record)) for record in samples]
    if [encoder.encode(record) for record in samples] != reference or grouped != [
        [expected] for expected in reference
    ]:
        logger.warning("fast encoder output differs from AvroSerializer; using AvroSerializer")
        return None
    return encoder


def _as_group(record: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    shared, item = split_record(record)
    return shared, [item]


def verified_encoder(
    serialize: Callable[[Mapping[str, Any]], bytes],
    schema_str: str,
    samples: Sequence[Mapping[str, Any]],
) -> Callable[[Mapping[str, Any]], bytes]:
    """The fast encoder's encode() when verified_reading_encoder() accepts it; otherwise
    ``serialize`` itself."""
    encoder = verified_reading_encoder(serialize, schema_str, samples)
    return serialize if encoder is None else encoder.encode
