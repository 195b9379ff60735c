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

:func:`write_batch` takes row tuples and sends COPY text; :func:`write_encoded_batch` takes rows
already in PostgreSQL's binary COPY format (:mod:`iot_pipeline.storage.pgbinary`), the sink's
default, and does the same optimistic COPY with the same fallback.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from contextlib import closing
from enum import StrEnum
from typing import Any, cast

from psycopg2 import errors as pg_errors
from psycopg2.extensions import cursor as PgCursor
from psycopg2.extras import Json, execute_values
from sqlalchemy import Engine

from iot_pipeline.storage.pgbinary import copy_data
from iot_pipeline.storage.rows import Row, copy_line
from iot_pipeline.storage.schema import CONFLICT_KEY, WRITE_COLUMNS

STAGING_TABLE = "sensor_readings_staging"
COPY_CHUNK = 16384  # characters a COPY chunk: about 80 rows
BINARY_CHUNK = 262144  # bytes a binary COPY chunk (already encoded: fewer, larger sends)
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


def _copy_binary(cur: PgCursor, table: str, tuples: Sequence[bytes]) -> None:
    cur.copy_expert(
        f"COPY {table} ({_COLUMNS_SQL}) FROM STDIN WITH (FORMAT binary)",
        io.BytesIO(copy_data(tuples)),
        BINARY_CHUNK,
    )


Copier = Callable[[PgCursor, str], None]  # COPY a batch into the named table


def _ensure_staging(cur: PgCursor) -> None:
    cur.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} ON COMMIT DELETE ROWS AS "
        f"SELECT {_COLUMNS_SQL} FROM sensor_readings WITH NO DATA"
    )


def _write_copy(cur: PgCursor, copy: Copier, table: str) -> int:
    _ensure_staging(cur)
    copy(cur, STAGING_TABLE)
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


def _write_copy_optimistic(cur: PgCursor, copy: Copier, count: int, table: str) -> int:
    """COPY straight into the table, as fast as a raw COPY; if any row is already stored (a
    replay) the COPY fails as a whole on the unique key and the batch goes the staging way."""
    cur.execute("SAVEPOINT direct_copy")
    try:
        copy(cur, table)
    except pg_errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT direct_copy")
        return _write_copy(cur, copy, table)
    cur.execute("RELEASE SAVEPOINT direct_copy")
    return count


def _by_method(
    cur: PgCursor,
    method: WriteMethod,
    table: str,
    count: int,
    copy: Copier,
    values: Callable[[], int] | None,
) -> int:
    if method is WriteMethod.COPY:
        return _write_copy_optimistic(cur, copy, count, table)
    if method is WriteMethod.COPY_STAGING:
        return _write_copy(cur, copy, table)
    if values is None:
        raise ValueError(f"{method} takes row tuples, not binary COPY tuples")
    return values()


def _write(cur: PgCursor, rows: Sequence[Row], method: WriteMethod, table: str) -> int:
    return _by_method(
        cur,
        method,
        table,
        len(rows),
        lambda cursor, into: _copy(cursor, into, rows),
        lambda: _write_values(cur, rows, table),
    )


def _write_binary(cur: PgCursor, tuples: Sequence[bytes], method: WriteMethod, table: str) -> int:
    copy: Copier = lambda cursor, into: _copy_binary(cursor, into, tuples)  # noqa: E731
    return _by_method(cur, method, table, len(tuples), copy, None)


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
    return _in_transaction(engine, lambda cur: _write(cur, rows, method, table))


def write_encoded_batch(
    engine: Engine,
    tuples: Sequence[bytes],
    method: WriteMethod = WriteMethod.COPY,
    table: str = "sensor_readings",
) -> int:
    """:func:`write_batch` for rows already encoded as binary COPY tuples (``copy`` or
    ``copy_staging``)."""
    if not tuples:
        return 0
    return _in_transaction(engine, lambda cur: _write_binary(cur, tuples, method, table))


def _in_transaction(engine: Engine, work: Callable[[PgCursor], int]) -> int:
    conn = engine.raw_connection()
    try:
        with closing(cast(PgCursor, conn.cursor())) as cur:
            inserted = work(cur)
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
