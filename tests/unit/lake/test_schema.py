import copy

import pytest
from pyiceberg.transforms import DayTransform
from pyiceberg.types import (
    BooleanType,
    DoubleType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    StringType,
    StructType,
    TimestamptzType,
)

from iot_pipeline.lake.schema import (
    UnsupportedAvroType,
    contract_avro_schema,
    evolution_schema,
    iceberg_schema,
    new_columns,
    partition_spec,
    sort_order,
)


def test_contract_maps_every_field_with_its_nullability() -> None:
    schema = iceberg_schema(contract_avro_schema())
    fields = {f.name: f for f in schema.fields}
    assert list(fields) == [f["name"] for f in contract_avro_schema()["fields"]]
    assert fields["device_id"].required and fields["device_id"].field_type == StringType()
    assert fields["timestamp"].required and fields["timestamp"].field_type == TimestamptzType()
    assert fields["value"].field_type == DoubleType()
    assert fields["is_anomaly"].required and fields["is_anomaly"].field_type == BooleanType()
    assert not fields["battery_level"].required
    assert not fields["rssi"].required and fields["rssi"].field_type == IntegerType()
    location = fields["location"]
    assert not location.required and isinstance(location.field_type, StructType)
    assert [f.name for f in location.field_type.fields] == [
        "latitude",
        "longitude",
        "building",
        "floor",
        "zone",
    ]
    assert location.field_type.field_by_name("latitude").required
    assert not location.field_type.field_by_name("building").required
    metadata = fields["metadata"].field_type
    assert isinstance(metadata, MapType) and metadata.value_required
    assert fields["device_id"].doc and "Kafka key" in fields["device_id"].doc


def _ids(field_type: object) -> list[int]:
    if isinstance(field_type, StructType):
        return [i for f in field_type.fields for i in [f.field_id, *_ids(f.field_type)]]
    if isinstance(field_type, MapType):
        return [field_type.key_id, field_type.value_id, *_ids(field_type.value_type)]
    if isinstance(field_type, ListType):
        return [field_type.element_id, *_ids(field_type.element_type)]
    return []


def test_field_ids_are_unique() -> None:
    ids = _ids(iceberg_schema(contract_avro_schema()).as_struct())
    assert len(ids) == 15 + 5 + 2 and len(set(ids)) == len(ids)


def test_arrays_enums_longs_and_micros() -> None:
    avro = {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "a", "type": {"type": "array", "items": ["null", "long"]}},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X"]}},
            {"name": "t", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "n", "type": "long"},
        ],
    }
    fields = {f.name: f.field_type for f in iceberg_schema(avro).fields}
    assert isinstance(fields["a"], ListType) and not fields["a"].element_required
    assert fields["a"].element_type == LongType()
    assert fields["e"] == StringType()
    assert fields["t"] == TimestamptzType()
    assert fields["n"] == LongType()


@pytest.mark.parametrize(
    "bad",
    [
        ["string", "int"],
        ["null", "string", "int"],
        "Location",
        {"type": "fixed", "name": "F", "size": 2},
    ],
)
def test_unsupported_types_are_refused_with_a_reason(bad: object) -> None:
    avro = {"type": "record", "name": "R", "fields": [{"name": "x", "type": bad}]}
    with pytest.raises(UnsupportedAvroType):
        iceberg_schema(avro)


def test_top_level_must_be_a_record() -> None:
    with pytest.raises(UnsupportedAvroType):
        iceberg_schema({"type": "string"})


def test_partitioned_by_day_of_timestamp_sorted_by_device_then_time() -> None:
    schema = iceberg_schema(contract_avro_schema())
    spec = partition_spec(schema)
    (field,) = spec.fields
    assert isinstance(field.transform, DayTransform)
    assert field.source_id == schema.find_field("timestamp").field_id
    order = sort_order(schema)
    assert [f.source_id for f in order.fields] == [
        schema.find_field("device_id").field_id,
        schema.find_field("timestamp").field_id,
    ]


def _with_new_fields() -> dict:
    avro = copy.deepcopy(contract_avro_schema())
    avro["fields"].append({"name": "air_quality", "type": ["null", "double"], "default": None})
    avro["fields"].append({"name": "revision", "type": "int", "default": 0})
    location = avro["fields"][5]["type"][1]
    location["fields"].append({"name": "room", "type": ["null", "string"], "default": None})
    return avro


def test_new_columns_names_top_level_and_nested_additions() -> None:
    table = iceberg_schema(contract_avro_schema())
    assert new_columns(table, contract_avro_schema()) == []
    assert new_columns(table, _with_new_fields()) == ["air_quality", "location.room", "revision"]


def test_evolution_schema_makes_only_new_columns_optional() -> None:
    table = iceberg_schema(contract_avro_schema())
    target = evolution_schema(table, _with_new_fields())
    assert target.find_field("device_id").required
    assert target.find_field("location.latitude").required
    assert not target.find_field("revision").required  # required in Avro, new to the table
    assert not target.find_field("air_quality").required
    assert not target.find_field("location.room").required
