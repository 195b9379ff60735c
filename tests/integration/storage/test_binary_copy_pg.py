"""Binary COPY against the real PostgreSQL + TimescaleDB: every column type PostgreSQL reads back
equals what the text path stores, replays are skipped, and a bad row fails the batch as a data
error (the sink then isolates it row by row)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from iot_pipeline.storage.migrate import MigrationReport
from iot_pipeline.storage.pgbinary import encode_row
from iot_pipeline.storage.reading_copy import encode_reading
from iot_pipeline.storage.rows import reading_to_row
from iot_pipeline.storage.schema import WRITE_COLUMNS
from iot_pipeline.storage.writer import (
    WriteMethod,
    is_data_error,
    write_batch,
    write_encoded_batch,
)
from tests.unit.storage.test_reading_copy import random_record

pytestmark = pytest.mark.integration

BASE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_COLUMNS = ", ".join(f'"{c}"' for c in WRITE_COLUMNS)


def stored(engine: Engine, prefix: str) -> dict[tuple[str, datetime], tuple[Any, ...]]:
    with engine.connect() as conn:
        result = conn.execute(
            text(f"SELECT {_COLUMNS} FROM sensor_readings WHERE device_id LIKE :p"),
            {"p": f"{prefix}%"},
        )
        return {(r[0], r[2]): tuple(r) for r in result}


def same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return all(
        (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        or x == y
        for x, y in zip(a, b, strict=True)
    )


def test_binary_rows_read_back_as_the_text_path_stores_them(
    migrated: MigrationReport, schema_engine: Engine
) -> None:
    rng = random.Random(19)
    records = [random_record(rng, i) for i in range(400)]
    as_text = [reading_to_row({**r, "device_id": "text-" + r["device_id"]}) for r in records]
    as_binary = [encode_reading({**r, "device_id": "bin-" + r["device_id"]}).data for r in records]
    assert write_batch(schema_engine, as_text, WriteMethod.COPY) == len(records)
    assert write_encoded_batch(schema_engine, as_binary) == len(records)
    texts = stored(schema_engine, "text-")
    binaries = stored(schema_engine, "bin-")
    assert len(texts) == len(binaries) == len(records)
    for (device, at), row in texts.items():
        other = binaries[("bin-" + device.removeprefix("text-"), at)]
        assert same(row[1:], other[1:]), (row, other)


def test_every_column_type_round_trips_from_a_row_tuple(
    migrated: MigrationReport, schema_engine: Engine
) -> None:
    record = random_record(random.Random(3), 1)
    row = list(reading_to_row({**record, "device_id": "typed-1"}))
    row[WRITE_COLUMNS.index("tags")] = ["a", None, 'q"\\t', "ünï"]
    empty_tags = list(row)
    empty_tags[0], empty_tags[2] = "typed-2", BASE
    empty_tags[WRITE_COLUMNS.index("tags")] = []
    write_encoded_batch(schema_engine, [encode_row(row), encode_row(empty_tags)])
    back = stored(schema_engine, "typed-")
    assert same(back[("typed-1", row[2])], tuple(row))
    assert same(back[("typed-2", BASE)], tuple(empty_tags))


@pytest.mark.parametrize("method", [WriteMethod.COPY, WriteMethod.COPY_STAGING])
def test_binary_batches_are_idempotent(
    migrated: MigrationReport, schema_engine: Engine, method: WriteMethod
) -> None:
    device = f"replay-{method.value}"

    def batch(first: int, last: int) -> list[bytes]:
        return [
            encode_reading(
                {
                    "device_id": device,
                    "device_type": "t",
                    "timestamp": int((BASE + timedelta(seconds=i)).timestamp() * 1000),
                    "value": float(i),
                    "unit": "°C",
                }
            ).data
            for i in range(first, last)
        ]

    assert write_encoded_batch(schema_engine, batch(0, 100), method) == 100
    assert write_encoded_batch(schema_engine, batch(0, 100), method) == 0
    assert write_encoded_batch(schema_engine, batch(90, 120) + batch(115, 120), method) == 20
    assert len(stored(schema_engine, device)) == 120


def test_a_row_postgresql_refuses_fails_the_binary_batch_as_a_data_error(
    migrated: MigrationReport, schema_engine: Engine
) -> None:
    good = encode_reading(
        {"device_id": "refused", "device_type": "t", "timestamp": 1, "value": 1.0, "unit": "x"}
    ).data
    # Year 1 BC is beyond Python's datetime but inside PostgreSQL's range; a timestamp beyond
    # PostgreSQL's range cannot come from a decoded reading, so provoke the error with a
    # corrupt tuple: a text field that is not UTF-8.
    bad = good.replace(b"refused", b"refus\xff\xfe")
    with pytest.raises(Exception) as caught:
        write_encoded_batch(schema_engine, [good, bad])
    assert is_data_error(caught.value)
    assert stored(schema_engine, "refus") == {}
