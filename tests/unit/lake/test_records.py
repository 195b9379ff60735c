from datetime import UTC, datetime

import pyarrow as pa
import pytest

from iot_pipeline.lake.records import bad_records, conform, sorted_table, to_batch
from iot_pipeline.lake.schema import contract_avro_schema, iceberg_schema
from tests.unit.lake.conftest import reading

SCHEMA = iceberg_schema(contract_avro_schema()).as_arrow()


def test_readings_convert_to_the_table_schema() -> None:
    location = {"latitude": 60.1, "longitude": 24.9, "building": "A", "floor": 2, "zone": None}
    batch = to_batch([reading(0), reading(1, location=location)], SCHEMA)
    assert batch.schema.equals(SCHEMA)
    rows = batch.to_pylist()
    assert rows[0]["timestamp"] == datetime(2026, 3, 1, 23, 59, 58, tzinfo=UTC)
    assert rows[0]["metadata"] == [("source", "test")]
    assert rows[0]["location"] is None
    assert rows[1]["location"] == location
    assert rows[1]["value"] == 21.0


def test_unknown_fields_are_dropped_and_missing_optional_ones_are_null() -> None:
    record = reading(0, air_quality=3.0)
    del record["rssi"]
    (row,) = to_batch([record], SCHEMA).to_pylist()
    assert "air_quality" not in row and row["rssi"] is None


def test_bad_records_names_each_reading_that_does_not_fit() -> None:
    good = reading(0)
    missing = reading(1)
    del missing["device_id"]
    wrong = reading(2, value="warm")
    assert [i for i, _ in bad_records([good, missing, wrong], SCHEMA)] == [1, 2]
    with pytest.raises((pa.ArrowException, TypeError, ValueError)):
        to_batch([good, wrong], SCHEMA)


def test_sorted_table_orders_by_device_then_time() -> None:
    batches = [
        to_batch([reading(3, "b"), reading(1, "a")], SCHEMA),
        to_batch([reading(0, "b"), reading(2, "a")], SCHEMA),
    ]
    table = sorted_table(batches, SCHEMA)
    devices = table["device_id"].to_pylist()
    keys = list(zip(devices, table["measurement_sequence"].to_pylist(), strict=True))
    assert keys == [("a", 1), ("a", 2), ("b", 0), ("b", 3)]
    assert sorted_table([], SCHEMA).num_rows == 0


def test_conform_adds_null_columns_of_an_evolved_schema() -> None:
    batch = to_batch([reading(0)], SCHEMA)
    evolved = SCHEMA.append(pa.field("air_quality", pa.float64()))
    out = conform(batch, evolved)
    assert out.schema.equals(evolved)
    assert out.column("air_quality").to_pylist() == [None]
    assert conform(batch, SCHEMA) is batch


def test_conform_handles_nested_additions() -> None:
    location = {"latitude": 1.0, "longitude": 2.0, "building": None, "floor": None, "zone": None}
    batch = to_batch([reading(0, location=location)], SCHEMA)
    index = SCHEMA.get_field_index("location")
    struct = SCHEMA.field(index).type
    wider = pa.struct([*struct, pa.field("room", pa.large_string())])
    evolved = SCHEMA.set(index, pa.field("location", wider))
    (row,) = conform(batch, evolved).to_pylist()
    assert row["location"] == {**location, "room": None}


def test_a_required_nested_field_missing_is_refused() -> None:
    location = {"longitude": 2.0}
    ((index, reason),) = bad_records([reading(0, location=location)], SCHEMA)
    assert index == 0 and "location.latitude" in reason
    assert bad_records([reading(0, location=None)], SCHEMA) == []
