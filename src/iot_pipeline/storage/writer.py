"""Batch writer: each batch in one transaction, idempotent on (device_id, timestamp).

Loss-free, idempotent methods, measured against each other by ``make bench``
(``bench.storage.measure_write_methods``):

- ``copy_staging``: COPY the batch into a session-local staging table, then
  ``INSERT INTO sensor_readings SELECT ... FROM staging ON CONFLICT DO NOTHING``;
- ``values``: one multi-row ``INSERT ... VALUES ... ON CONFLICT DO NOTHING`` (psycopg2
  ``execute_values``);
- ``copy`` (default): COPY straight into the table under a savepoint; only a batch that contains
  an already stored row (a replay, a crash recovery) pays for ``copy_staging`` after the failed
  attempt. New data - the normal case - goes at raw COPY speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from enum import StrEnum
from typing import Any, cast

from psycopg2 import errors as pg_errors
from psycopg2.extensions import cursor as PgCursor
from psycopg2.extras import Json, execute_values
from sqlalchemy import Engine

from iot_pipeline.storage.rows import Row, copy_line
from iot_pipeline.storage.schema import CONFLICT_KEY, WRITE_COLUMNS

STAGING_TABLE = "sensor_readings_staging"
COPY_CHUNK = 16384  # characters a COPY chunk: about 80 rows
_COLUMNS_SQL = ", ".join(f'"{c}"' for c in WRITE_COLUMNS)
_CONFLICT_SQL = ", ".join(f'"{c}"' for c in CONFLICT_KEY)


class WriteMethod(StrEnum):
    COPY = "copy"  # direct COPY, falling back to COPY_STAGING when the batch has stored rows
    COPY_STAGING = "copy_staging"
    VALUES = "values"


def _metadata_index() -> int:
    return WRITE_COLUMNS.index("device_metadata")


def copy_payload(rows: Sequence[Row]) -> str:
    return "".join(copy_line(r) for r in rows)


class CopyStream:
    """The rows in COPY text format, formatted as PostgreSQL reads them: copy_expert() sends
    each chunk as soon as it is formatted, so the server stores the first rows while the rest
    are still being formatted (two processes, two cores) instead of waiting for the whole
    payload. UTF-8, the database's encoding."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self._rows = iter(rows)

    def read(self, size: int = -1) -> bytes:
        lines: list[str] = []
        length = 0
        for row in self._rows:
            line = copy_line(row)
            lines.append(line)
            length += len(line)
            if 0 < size <= length:
                break
        return "".join(lines).encode()

    def readline(self, size: int = -1) -> bytes:
        return self.read(1)


def _copy(cur: PgCursor, table: str, rows: Sequence[Row]) -> None:
    cur.copy_expert(f"COPY {table} ({_COLUMNS_SQL}) FROM STDIN", CopyStream(rows), COPY_CHUNK)


def _ensure_staging(cur: PgCursor) -> None:
    cur.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} ON COMMIT DELETE ROWS AS "
        f"SELECT {_COLUMNS_SQL} FROM sensor_readings WITH NO DATA"
    )


def _write_copy(cur: PgCursor, rows: Sequence[Row], table: str) -> int:
    _ensure_staging(cur)
    _copy(cur, STAGING_TABLE, rows)
    cur.execute(
        f"INSERT INTO {table} ({_COLUMNS_SQL}) SELECT {_COLUMNS_SQL} FROM {STAGING_TABLE} "
        f"ON CONFLICT ({_CONFLICT_SQL}) DO NOTHING"
    )
    return cur.rowcount


def _adapt_for_values(row: Row) -> tuple[Any, ...]:
    i = _metadata_index()
    meta = row[i]
    if meta is None:
        return row
    return (*row[:i], Json(meta), *row[i + 1 :])


def _write_values(cur: PgCursor, rows: Sequence[Row], table: str) -> int:
    execute_values(
        cur,
        f"INSERT INTO {table} ({_COLUMNS_SQL}) VALUES %s ON CONFLICT ({_CONFLICT_SQL}) DO NOTHING",
        [_adapt_for_values(r) for r in rows],
        page_size=max(len(rows), 1),
    )
    return cur.rowcount


def _write_copy_optimistic(cur: PgCursor, rows: Sequence[Row], table: str) -> int:
    """COPY straight into the table, as fast as a raw COPY; if any row is already stored (a
    replay) the COPY fails as a whole on the unique key and the batch goes the staging way."""
    cur.execute("SAVEPOINT direct_copy")
    try:
        _copy(cur, table, rows)
    except pg_errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT direct_copy")
        return _write_copy(cur, rows, table)
    cur.execute("RELEASE SAVEPOINT direct_copy")
    return len(rows)


def _write(cur: PgCursor, rows: Sequence[Row], method: WriteMethod, table: str) -> int:
    if method is WriteMethod.COPY:
        return _write_copy_optimistic(cur, rows, table)
    if method is WriteMethod.COPY_STAGING:
        return _write_copy(cur, rows, table)
    return _write_values(cur, rows, table)


def write_batch(
    engine: Engine,
    rows: Sequence[Row],
    method: WriteMethod = WriteMethod.COPY,
    table: str = "sensor_readings",
) -> int:
    """Write ``rows`` in one transaction; return how many were new (duplicates are skipped).

    Raises the driver's exception on failure, after rolling back: nothing of the batch is stored.
    """
    if not rows:
        return 0
    conn = engine.raw_connection()
    try:
        with closing(cast(PgCursor, conn.cursor())) as cur:
            inserted = _write(cur, rows, method, table)
        conn.commit()
        return inserted
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def write_rows_one_by_one(
    engine: Engine, rows: Sequence[Row], table: str = "sensor_readings"
) -> list[Exception | None]:
    """Write each row under its own savepoint in one transaction, to isolate poison rows.

    Returns, per row, ``None`` if it was stored (or already there) or the data error that rejects
    it. Errors that are not about the data (connection lost, ...) are raised: nothing is stored.
    """
    results: list[Exception | None] = []
    conn = engine.raw_connection()
    try:
        with closing(cast(PgCursor, conn.cursor())) as cur:
            for row in rows:
                cur.execute("SAVEPOINT one_row")
                try:
                    _write_values(cur, [row], table)
                except pg_errors.Error as exc:
                    if not is_data_error(exc):
                        raise
                    cur.execute("ROLLBACK TO SAVEPOINT one_row")
                    results.append(exc)
                else:
                    cur.execute("RELEASE SAVEPOINT one_row")
                    results.append(None)
        conn.commit()
        return results
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def is_data_error(exc: BaseException) -> bool:
    """True for errors caused by the row itself (SQLSTATE class 22 data exception, 23 integrity
    constraint): retrying cannot help, the row is poison. Everything else (connection lost, server
    shutting down, out of disk) is worth retrying."""
    pgcode = getattr(exc, "pgcode", None) or getattr(getattr(exc, "orig", None), "pgcode", None)
    return isinstance(pgcode, str) and pgcode[:2] in ("22", "23")
