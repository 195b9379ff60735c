"""Decoded readings -> Arrow (pure, no I/O).

The decoder yields one dict per reading (fastavro: `timestamp` as an aware datetime, `metadata` as
a dict, `location` as a dict or None). `to_batch` builds an Arrow record batch in the table's
Arrow schema: fields the table lacks are dropped (the writer evolves the table first), fields a
reading lacks are null. `bad_records` finds the readings that cannot be converted, so one bad
reading goes to the dead-letter topic instead of stopping the archive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from iot_pipeline.lake.schema import SORT_COLUMNS


def _prepared(record: dict[str, Any]) -> dict[str, Any]:
    metadata = record.get("metadata")
    if isinstance(metadata, dict):
        # Arrow builds map columns from (key, value) pairs.
        return {**record, "metadata": list(metadata.items())}
    return record


def _missing_required(
    array: pa.Array, field: pa.Field, parent_valid: pa.Array | None
) -> str | None:
    """The dotted name of a required (sub)field that is null where its parent is set."""
    if not field.nullable:
        nulls = pc.is_null(array)
        if parent_valid is not None:
            nulls = pc.and_(nulls, parent_valid)
        if pc.any(nulls).as_py():
            name: str = field.name
            return name
    if pa.types.is_struct(field.type):
        valid = (
            pc.is_valid(array)
            if parent_valid is None
            else pc.and_(pc.is_valid(array), parent_valid)
        )
        for index in range(field.type.num_fields):
            child = field.type.field(index)
            missing = _missing_required(pc.struct_field(array, [index]), child, valid)
            if missing is not None:
                return f"{field.name}.{missing}"
    return None


def to_batch(records: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Readings as one record batch in `schema`; raises (pa.ArrowException, TypeError,
    ValueError) when any reading does not fit it (a wrong type, a required field missing)."""
    batch = pa.RecordBatch.from_pylist([_prepared(r) for r in records], schema=schema)
    for field, column in zip(schema, batch.columns, strict=True):
        missing = _missing_required(column, field, None)
        if missing is not None:
            raise ValueError(f"required field {missing} is missing")
    return batch


def bad_records(records: Sequence[dict[str, Any]], schema: pa.Schema) -> list[tuple[int, str]]:
    """(index, reason) of each reading that does not convert on its own."""
    bad = []
    for index, record in enumerate(records):
        try:
            to_batch([record], schema)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            bad.append((index, f"{type(exc).__name__}: {exc}"[:500]))
    return bad


def sorted_table(batches: Sequence[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    """The batches as one table in the table's sort order (device, then time)."""
    table = pa.Table.from_batches(list(batches), schema=schema)
    if table.num_rows == 0:
        return table
    return table.sort_by([(column, "ascending") for column in SORT_COLUMNS])


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch built for an older table schema, in the current one (columns added since are
    null; nested additions go through Python objects, rare: only right after evolution)."""
    if batch.schema.equals(schema):
        return batch
    try:
        columns = []
        for target in schema:
            index = batch.schema.get_field_index(target.name)
            if index < 0:
                columns.append(pa.nulls(batch.num_rows, type=target.type))
            else:
                columns.append(batch.column(index).cast(target.type))
        return pa.RecordBatch.from_arrays(columns, schema=schema)
    except (pa.ArrowException, ValueError):
        return pa.RecordBatch.from_pylist(batch.to_pylist(), schema=schema)
