"""The Iceberg schema of the readings, derived from the Avro contract (pure, no I/O).

Avro -> Iceberg: a `["null", T]` union is an optional T, anything else required; `long` with
`timestamp-millis`/`timestamp-micros` is `timestamptz` (UTC, microseconds); records are structs,
maps and arrays keep their shape; enums are strings. Field ids are numbered depth-first; the
catalog renumbers them when the table is created, and evolution matches fields by name.

The table is partitioned by day of the reading's `timestamp` and sorted by `device_id`, then
`timestamp` (the writer sorts each file so; engines use the declared order for planning).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    NestedField,
    StringType,
    StructType,
    TimestamptzType,
)

PARTITION_SOURCE = "timestamp"
SORT_COLUMNS = ("device_id", "timestamp")

_PRIMITIVES: dict[str, IcebergType] = {
    "string": StringType(),
    "int": IntegerType(),
    "long": LongType(),
    "float": FloatType(),
    "double": DoubleType(),
    "boolean": BooleanType(),
    "bytes": BinaryType(),
}
_TIMESTAMPS = frozenset({"timestamp-millis", "timestamp-micros"})


class UnsupportedAvroType(ValueError):
    """The Avro schema uses a type the archive does not map (e.g. a union of two types)."""


def contract_avro_schema() -> dict[str, Any]:
    """The readings' Avro contract shipped with the package."""
    text = resources.files("iot_pipeline.schemas").joinpath("iot_sensor_reading.avsc").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _optional(avro_type: Any) -> tuple[Any, bool]:
    """(the non-null branch, whether null is allowed) of a field type."""
    if isinstance(avro_type, list):
        branches = [branch for branch in avro_type if branch != "null"]
        if len(branches) != 1:
            raise UnsupportedAvroType(f"union {avro_type} is not [null, T]")
        return branches[0], len(branches) < len(avro_type)
    return avro_type, False


def _convert(avro_type: Any, ids: Iterator[int]) -> IcebergType:
    if isinstance(avro_type, str):
        if avro_type in _PRIMITIVES:
            return _PRIMITIVES[avro_type]
        raise UnsupportedAvroType(f"Avro type {avro_type!r} (named references are not supported)")
    if isinstance(avro_type, list):
        raise UnsupportedAvroType(f"nested union {avro_type}")
    kind = avro_type.get("type")
    if kind == "long" and avro_type.get("logicalType") in _TIMESTAMPS:
        return TimestamptzType()
    if kind == "record":
        return StructType(*_fields(avro_type["fields"], ids))
    if kind == "map":
        value, nullable = _optional(avro_type["values"])
        key_id, value_id = next(ids), next(ids)
        return MapType(key_id, StringType(), value_id, _convert(value, ids), not nullable)
    if kind == "array":
        element, nullable = _optional(avro_type["items"])
        element_id = next(ids)
        return ListType(element_id, _convert(element, ids), not nullable)
    if kind == "enum":
        return StringType()
    if isinstance(kind, str) and kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise UnsupportedAvroType(f"Avro type {avro_type!r}")


def _fields(avro_fields: list[dict[str, Any]], ids: Iterator[int]) -> list[NestedField]:
    fields = []
    for avro_field in avro_fields:
        field_id = next(ids)
        branch, nullable = _optional(avro_field["type"])
        fields.append(
            NestedField(
                field_id=field_id,
                name=avro_field["name"],
                field_type=_convert(branch, ids),
                required=not nullable,
                doc=avro_field.get("doc"),
            )
        )
    return fields


def iceberg_schema(avro_schema: dict[str, Any]) -> Schema:
    """The Iceberg schema of an Avro record schema."""
    if avro_schema.get("type") != "record":
        raise UnsupportedAvroType("the top-level Avro schema must be a record")
    return Schema(*_fields(avro_schema["fields"], itertools.count(1)))


def partition_spec(schema: Schema) -> PartitionSpec:
    source = schema.find_field(PARTITION_SOURCE)
    return PartitionSpec(
        PartitionField(
            source_id=source.field_id,
            field_id=1000,
            transform=DayTransform(),
            name=f"{PARTITION_SOURCE}_day",
        )
    )


def sort_order(schema: Schema) -> SortOrder:
    return SortOrder(
        *(
            SortField(source_id=schema.find_field(name).field_id, transform=IdentityTransform())
            for name in SORT_COLUMNS
        )
    )


def _names(struct: StructType, prefix: str = "") -> set[str]:
    """Dotted names of every struct field, nested structs included."""
    names = set()
    for field in struct.fields:
        name = f"{prefix}{field.name}"
        names.add(name)
        if isinstance(field.field_type, StructType):
            names |= _names(field.field_type, f"{name}.")
    return names


def new_columns(table_schema: Schema, avro_schema: dict[str, Any]) -> list[str]:
    """Dotted names of the fields the Avro schema has and the table lacks (to be added)."""
    wanted = _names(iceberg_schema(avro_schema).as_struct())
    return sorted(wanted - _names(table_schema.as_struct()))


def _relaxed(field_type: IcebergType, known: set[str], prefix: str) -> IcebergType:
    if not isinstance(field_type, StructType):
        return field_type
    return StructType(*(_relax_field(f, known, prefix) for f in field_type.fields))


def _relax_field(field: NestedField, known: set[str], prefix: str) -> NestedField:
    name = f"{prefix}{field.name}"
    return NestedField(
        field_id=field.field_id,
        name=field.name,
        field_type=_relaxed(field.field_type, known, f"{name}."),
        # Rows already in the table have no value for a new column: it can only be optional.
        required=field.required and name in known,
        doc=field.doc,
    )


def evolution_schema(table_schema: Schema, avro_schema: dict[str, Any]) -> Schema:
    """The Avro schema as an Iceberg schema to union into the table: columns the table lacks
    become optional (existing rows hold no value for them)."""
    known = _names(table_schema.as_struct())
    target = iceberg_schema(avro_schema)
    return Schema(*(_relax_field(field, known, "") for field in target.fields))
